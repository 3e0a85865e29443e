// Terminates a client's TLS with a leaf from wsgate's CA: the building block of CONNECT interception. Given the
// client socket of a CONNECT tunnel (after the 200), it completes the handshake with a leaf for the SNI name (the
// CONNECT host when the client sends none), and hands back the decrypted TLSSocket and the name it was for.
// Garbage instead of a ClientHello, a denied SNI name or a client that stalls mid-handshake end in a rejected
// promise and a destroyed socket; nothing else is affected.
import type net from 'node:net';
import tls from 'node:tls';
import { WsgateError } from '../errors.ts';
import { formatHostPort } from '../net/host-port.ts';
import { ignoreError } from '../net/ignore-error.ts';
import type { KeyLog } from './keylog.ts';
import type { LeafCache } from './leaf.ts';
import { normalizeHost } from './names.ts';
import { ALPN_PROTOCOLS, MIN_TLS_VERSION } from './server-certs.ts';

export type SniCallback = (servername: string, cb: (err: Error | null, ctx?: tls.SecureContext) => void) => void;

/**
 * An SNICallback that serves a leaf for whatever name the client asks for, issued on first use. `allow` may refuse
 * a name (the handshake then fails); concurrent handshakes for one name share one signing.
 */
export function createSniCallback(leaves: LeafCache, allow?: (servername: string) => boolean): SniCallback {
  return (servername, cb) => {
    const name = normalizeHost(servername);
    if (allow !== undefined && !allow(name)) {
      cb(new Error(`server name ${JSON.stringify(name)} is not allowed here`));
      return;
    }
    leaves.secureContext(name).then(
      (ctx) => cb(null, ctx),
      (err: Error) => cb(err),
    );
  };
}

export type TerminateTlsOptions = {
  leaves: LeafCache;
  /** The host of `CONNECT host:port`: the leaf's name when the ClientHello has no SNI (e.g. an IP target). */
  connectHost: string;
  /** The client must finish its handshake within this many ms. */
  handshakeTimeout: number;
  keyLog?: KeyLog | undefined;
  /** Refuses SNI names that must not be intercepted (checked before any certificate is issued). */
  allowServerName?: ((servername: string) => boolean) | undefined;
};

export type TerminatedTls = {
  /** The decrypted stream: feed it to an HTTP server (`server.emit('connection', socket)`). */
  socket: tls.TLSSocket;
  /** The name the leaf was issued for: the SNI name, else the CONNECT host. */
  servername: string;
  /** Whether the client sent SNI. */
  sni: boolean;
  /** The ALPN protocol agreed ("http/1.1"), or false when the client offered none. */
  alpnProtocol: string | false;
};

/**
 * Completes the client's TLS handshake on `socket` with a leaf for its SNI name. Rejects with WSG_TLS_HANDSHAKE
 * (and destroys the socket) when the client sends no valid ClientHello, names a refused host, or is too slow.
 */
export async function terminateTls(socket: net.Socket, options: TerminateTlsOptions): Promise<TerminatedTls> {
  const { remoteAddress, remotePort } = socket;
  // An IPv6 client in brackets, as every message writes an address with its port.
  const peer =
    remoteAddress === undefined
      ? 'a client'
      : remotePort === undefined
        ? remoteAddress
        : formatHostPort(remoteAddress, remotePort);
  const connectHost = normalizeHost(options.connectHost);
  socket.on('error', ignoreError);
  let defaultContext: tls.SecureContext;
  try {
    // The default context serves clients without SNI; with SNI the callback picks (usually the same cached leaf).
    defaultContext = await options.leaves.secureContext(connectHost);
  } catch (err) {
    socket.destroy();
    throw new WsgateError('WSG_TLS_HANDSHAKE', { peer, detail: (err as Error).message }, { cause: err });
  }
  const tlsSocket = new tls.TLSSocket(socket, {
    isServer: true,
    secureContext: defaultContext,
    SNICallback: createSniCallback(options.leaves, options.allowServerName),
    ALPNProtocols: ALPN_PROTOCOLS,
    minVersion: MIN_TLS_VERSION,
  });
  if (options.keyLog !== undefined) options.keyLog.attach(tlsSocket);
  return new Promise((resolve, reject) => {
    const fail = (detail: string, cause?: unknown) => {
      clearTimeout(timer);
      tlsSocket.destroy();
      socket.destroy();
      reject(new WsgateError('WSG_TLS_HANDSHAKE', { peer, detail }, { cause }));
    };
    const timer = setTimeout(
      () => fail(`no complete handshake within ${options.handshakeTimeout} ms`),
      options.handshakeTimeout,
    );
    const onError = (err: NodeJS.ErrnoException) => fail(err.code ?? err.message, err);
    const onClose = () => fail('the client closed the connection during the handshake');
    tlsSocket.once('error', onError);
    tlsSocket.once('close', onClose);
    // A socket from an http.Server (a CONNECT tunnel) allows half-open connections: the client's FIN alone would
    // not close it, and the handshake would wait for its timeout.
    tlsSocket.once('end', onClose);
    // 'secure' is the server-side TLSSocket's handshake-done event (tls.Server turns it into 'secureConnection').
    tlsSocket.once('secure', () => {
      clearTimeout(timer);
      tlsSocket.off('error', onError);
      tlsSocket.off('close', onClose);
      tlsSocket.off('end', onClose);
      tlsSocket.on('error', ignoreError);
      const sniName = (tlsSocket as tls.TLSSocket & { servername?: string | false }).servername;
      const sni = typeof sniName === 'string' && sniName !== '';
      resolve({
        socket: tlsSocket,
        servername: sni ? normalizeHost(sniName) : connectHost,
        sni,
        alpnProtocol: tlsSocket.alpnProtocol ?? false,
      });
    });
  });
}
