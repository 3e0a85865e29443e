// Peer "node-pipe": the floor of any Node proxy on this machine. A `net` server that reads the request head (to
// its blank line, nothing parsed), dials the upstream, writes the head on and pipes both ways. No HTTP parser, no
// checks, no routing, no tap: what is left is Node's own cost of accepting, connecting and moving bytes. Where
// wsgate is far above it, the difference is wsgate's; where even this misses a target, Node does.
//
//   node scripts/bench/peers/node-pipe.ts <listenPort> 127.0.0.1:<targetPort>
import net from 'node:net';

const [port, target] = process.argv.slice(2);
if (!port || !target?.startsWith('127.0.0.1:')) {
  process.stderr.write('usage: node scripts/bench/peers/node-pipe.ts <port> 127.0.0.1:<target port>\n');
  process.exit(2);
}
const targetPort = Number(target.slice('127.0.0.1:'.length));
const MAX_HEAD = 16 * 1024;

const server = net.createServer({ noDelay: true }, (client) => {
  let head: Buffer = Buffer.alloc(0);
  client.on('error', () => client.destroy());
  const onData = (chunk: Buffer) => {
    head = head.length === 0 ? chunk : Buffer.concat([head, chunk]);
    if (head.indexOf('\r\n\r\n') < 0) {
      if (head.length > MAX_HEAD) client.destroy();
      return;
    }
    client.off('data', onData);
    client.pause();
    const upstream = net.connect({ host: '127.0.0.1', port: targetPort, noDelay: true }, () => {
      upstream.write(head);
      client.pipe(upstream);
      upstream.pipe(client);
    });
    upstream.on('error', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
    client.on('close', () => upstream.destroy());
  };
  client.on('data', onData);
});
server.listen(Number(port), '127.0.0.1');
for (const sig of ['SIGINT', 'SIGTERM'] as const) process.on(sig, () => process.exit(0));
