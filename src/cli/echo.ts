// `wsgate echo`: the built-in echo server alone, for trying a proxy (wsgate or another) end to end.

import { waitForStopSignal } from '../app/signals.ts';
import { startEchoServer } from '../echo/server.ts';
import { WsgateError } from '../errors.ts';
import { type Output, parseCommandArgs } from './args.ts';

export const ECHO_HELP = `Usage: wsgate echo [--host HOST] [--port PORT]

Runs the built-in echo server: WebSocket on /echo (any path works) sends every text and binary
message back unchanged; plain HTTP GET answers a short text.

Options:
  --host HOST   address to bind (default 127.0.0.1)
  --port PORT   port to bind (default 9998; 0 picks a free port)
  -h, --help    show this help
`;

export async function echoCommand(argv: string[], io: Output): Promise<number> {
  const { values } = parseCommandArgs('echo', argv, {
    host: { type: 'string', default: '127.0.0.1' },
    port: { type: 'string', default: '9998' },
    help: { type: 'boolean', short: 'h' },
  });
  if (values.help) {
    io.out(ECHO_HELP);
    return 0;
  }
  const port = Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new WsgateError('WSG_USAGE', {
      detail: `echo: --port must be a number from 0 to 65535, not "${values.port}"`,
    });
  }
  const echo = await startEchoServer({ host: values.host, port });
  io.out(`wsgate echo server on ${echo.url} (Ctrl-C stops it)`);
  await waitForStopSignal();
  await echo.close();
  return 0;
}
