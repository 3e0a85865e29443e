// Binding a listener's server: a bind failure becomes WSG_LISTEN_FAILED naming the address; later server errors
// are logged, never thrown (an 'error' with no listener would crash the process). The logger is asked for at each
// line: a listener renamed by a reload logs under its new name.
import type http from 'node:http';
import type net from 'node:net';
import { listenFailed } from '../errors.ts';
import type { Logger } from '../log/logger.ts';
import { formatHostPort } from '../net/host-port.ts';

export function listenOn(
  server: http.Server | net.Server,
  bind: { host: string; port: number },
  log: () => Logger,
): Promise<{ host: string; port: number }> {
  return new Promise((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException) => {
      reject(listenFailed({ ...bind, address: formatHostPort(bind.host, bind.port) }, err));
    };
    server.once('error', onError);
    server.listen({ host: bind.host, port: bind.port }, () => {
      server.off('error', onError);
      server.on('error', (err) => log().error({ event: 'listener.error', err }, 'listener error'));
      const info = server.address() as net.AddressInfo;
      resolve({ host: info.address, port: info.port });
    });
  });
}
