// An upstream proxy that sends interim 1xx heads (100 Continue, 103 Early Hints) before its 200 to wsgate's CONNECT:
// they are not its answer (RFC 9110 §15.2), so wsgate reads past them to the 200 and the tunnel carries the
// connection; a 1xx before a 407 is judged as the 407.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import net from 'node:net';
import { type TestContext, test } from 'node:test';
import WebSocket from 'ws';
import { startEchoServer } from '../../../src/echo/server.ts';
import { startProxy, startTcpServer } from './helpers.ts';

/** A CONNECT proxy that writes `answer` (heads, in pieces) and then, on a 2xx, splices the socket to the target. */
async function interimProxy(t: TestContext, answer: string[], tunnels: boolean) {
  return startTcpServer(t, (socket) => {
    let head = '';
    const onData = (chunk: Buffer) => {
      head += chunk.toString('latin1');
      const end = head.indexOf('\r\n\r\n');
      if (end === -1) return;
      socket.off('data', onData);
      const [, authority] = /^CONNECT (\S+) /.exec(head) ?? [];
      const [host, port] = (authority ?? '').split(':');
      // Each head in its own write: a read may end between them.
      for (const piece of answer) socket.write(piece);
      if (!tunnels) return;
      const target = net.connect(Number(port), host, () => {
        target.pipe(socket);
        socket.pipe(target);
      });
      target.on('error', () => socket.destroy());
    };
    socket.on('data', onData);
  });
}

async function gateVia(t: TestContext, proxyPort: number) {
  const echo = await startEchoServer({ host: '127.0.0.1', port: 0 });
  t.after(() => echo.close());
  return startProxy(t, {
    listeners: [{ name: 'web', bind: '127.0.0.1:0', routes: [{ upstream: 'echo' }] }],
    upstreams: [{ name: 'echo', url: `ws://127.0.0.1:${echo.address.port}`, via: 'corp' }],
    proxies: [{ name: 'corp', url: `http://127.0.0.1:${proxyPort}`, noProxy: ['<-loopback>'] }],
    shutdown: { grace: '200ms' },
  });
}

test('interim 100 and 103 before the 200 to CONNECT: wsgate reads past them and the WebSocket goes through', async (t) => {
  const proxy = await interimProxy(
    t,
    [
      'HTTP/1.1 100 Continue\r\n\r\n',
      'HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n',
      'HTTP/1.1 200 Connection established\r\n\r\n',
    ],
    true,
  );
  const gw = await gateVia(t, proxy.port);
  const ws = new WebSocket(`ws://127.0.0.1:${gw.port()}/chat`);
  t.after(() => ws.terminate());
  await once(ws, 'open');
  ws.send('through the tunnel');
  const [reply] = await once(ws, 'message');
  assert.equal(String(reply), 'through the tunnel');
  ws.close(1000);
  await once(ws, 'close');
});

test('an interim 100 before a 407 to CONNECT: the 407 is the answer the client hears about', async (t) => {
  const proxy = await interimProxy(
    t,
    [
      'HTTP/1.1 100 Continue\r\n\r\n',
      'HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic realm="corp"\r\nContent-Length: 0\r\n\r\n',
    ],
    false,
  );
  const gw = await gateVia(t, proxy.port);
  const ws = new WebSocket(`ws://127.0.0.1:${gw.port()}/chat`);
  ws.on('error', () => {});
  const [, res] = await once(ws, 'unexpected-response');
  assert.equal(res.statusCode, 407);
});
