// A loopback port whose connects never complete, for connect timeouts without an outside address: a listener on
// 127.0.0.1 with a backlog of 1 in a child process whose event loop is blocked, so it never accepts; a connection or
// two fill its queue, and the kernel drops later SYNs.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import net from 'node:net';
import type { TestContext } from 'node:test';

const BLACK_HOLE = `
const net = require('node:net');
const server = net.createServer();
server.listen({ port: 0, host: '127.0.0.1', backlog: 1 }, () => {
  process.stdout.write(server.address().port + '\\n');
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0);
});`;

/** A loopback port whose connects hang: a never-accepting listener with its one-slot queue taken. */
export async function startBlackHole(t: TestContext): Promise<number> {
  const child = spawn(process.execPath, ['-e', BLACK_HOLE], { stdio: ['ignore', 'pipe', 'inherit'] });
  t.after(() => {
    child.kill('SIGKILL');
  });
  const port = await new Promise<number>((resolve, reject) => {
    child.stdout.once('data', (d: Buffer) => resolve(Number(d.toString().trim())));
    child.once('exit', (code) => reject(new Error(`black hole exited with ${code}`)));
  });
  // Fill the queue (its size is the backlog, rounded by the kernel) until a connect no longer completes.
  for (let filled = 0; ; filled += 1) {
    assert.ok(filled < 8, 'the black hole keeps accepting');
    const socket = net.connect(port, '127.0.0.1');
    socket.on('error', () => {});
    t.after(() => socket.destroy());
    const connected = await Promise.race([
      new Promise((resolve) => socket.once('connect', () => resolve(true))),
      new Promise((resolve) => setTimeout(() => resolve(false), 300)),
    ]);
    if (!connected) {
      socket.destroy();
      break;
    }
  }
  return port;
}
