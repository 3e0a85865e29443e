// The benchmark's upstream: a `ws` echo server on 127.0.0.1 that sends every message back with the same
// opcode, no compression. It is `ws` on purpose (not wsgate's own echo server) so that the upstream costs
// the same CPU as the reference harness's, whatever wsgate's code does.
//
//   node scripts/bench/echo-server.ts --port P      prints "READY <port>" once listening; SIGTERM stops it
import http from 'node:http';
import type net from 'node:net';
import { parseArgs } from 'node:util';
import { WebSocketServer } from 'ws';

const { values } = parseArgs({ options: { port: { type: 'string', default: '0' } } });

const server = http.createServer((_req, res) => {
  res.writeHead(200, { 'content-type': 'text/plain' });
  res.end('wsgate bench echo\n');
});
const wss = new WebSocketServer({ server, perMessageDeflate: false, maxPayload: 64 * 1024 * 1024 });
wss.on('connection', (ws) => {
  ws.on('message', (data, isBinary) => ws.send(data as Buffer, { binary: isBinary }));
  ws.on('error', () => {});
});
server.keepAliveTimeout = 60_000;
server.listen(Number(values.port), '127.0.0.1', () => {
  process.stdout.write(`READY ${(server.address() as net.AddressInfo).port}\n`);
});

for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.on(sig, () => {
    for (const c of wss.clients) c.terminate();
    server.close();
    process.exit(0);
  });
}
