// Peer "hp3": plain WebSocket reverse proxying with http-proxy-3, the way most Node apps do it:
// createProxyServer({ ws: true }) plus an 'upgrade' handler on an http server.
//
//   node scripts/bench/peers/hp3.ts <listenPort> <targetHost:targetPort>
import http from 'node:http';
import type net from 'node:net';
import { createProxyServer } from 'http-proxy-3';

const [port, target] = process.argv.slice(2);
if (!port || !target?.startsWith('127.0.0.1:')) {
  process.stderr.write('usage: node scripts/bench/peers/hp3.ts <port> 127.0.0.1:<target port>\n');
  process.exit(2);
}
const proxy = createProxyServer({ target: `http://${target}`, ws: true, xfwd: false });
proxy.on('error', (_err, _req, res) => {
  if (res instanceof http.ServerResponse) {
    if (!res.headersSent) res.writeHead(502);
    res.end();
  } else {
    (res as net.Socket | undefined)?.destroy();
  }
});
const server = http.createServer((req, res) => proxy.web(req, res));
server.on('upgrade', (req, socket, head) => proxy.ws(req, socket as net.Socket, head));
server.listen(Number(port), '127.0.0.1');
for (const sig of ['SIGINT', 'SIGTERM'] as const) process.on(sig, () => process.exit(0));
