// UpstreamSpares against a real TCP server on 127.0.0.1: when a spare is dialed, handed over, dropped and closed.
import assert from 'node:assert/strict';
import net from 'node:net';
import { test } from 'node:test';
import { isSpare, type SpareResult, spareLost, UpstreamSpares } from '../../../src/upstream/spares.ts';
import { closedPort } from '../../helpers/servers.ts';
import { eventually, startTcpServer } from '../../integration/forward/helpers.ts';

function dialer(port: number) {
  let dials = 0;
  const dial = () =>
    new Promise<net.Socket>((resolve, reject) => {
      dials++;
      const s = net.connect(port, '127.0.0.1', () => resolve(s));
      s.on('error', reject);
    });
  return { dial, dials: () => dials };
}

test('a lone handshake leaves no spare; handshakes within `wait` keep one, which the next takes', async (t) => {
  const server = await startTcpServer(t, () => {});
  const results: string[] = [];
  const spares = new UpstreamSpares((upstream, result) => results.push(`${upstream} ${result}`));
  t.after(() => spares.close());
  const { dial, dials } = dialer(server.port);
  assert.equal(spares.take('up', 'a', 1000, dial), undefined);
  await new Promise((r) => setTimeout(r, 30));
  assert.equal(dials(), 0, 'a lone handshake dials no spare');
  assert.equal(spares.take('up', 'a', 1000, dial), undefined, 'nothing held yet');
  await eventually(() => spares.held === 1, 5000, 'a spare held after the second handshake');
  assert.equal(dials(), 1);
  const spare = spares.take('up', 'a', 1000, dial);
  assert.ok(spare !== undefined, 'the third handshake takes it');
  assert.ok(isSpare(spare));
  assert.equal(spare.destroyed, false);
  assert.deepEqual(results, ['up taken']);
  spareLost(spare);
  spareLost(spare);
  assert.deepEqual(results, ['up taken', 'up lost'], 'lost once');
  await eventually(() => spares.held === 1, 5000, 'the next spare dialed');
  assert.equal(dials(), 2);
  // Another key has its own history.
  assert.equal(spares.take('up', 'b', 1000, dial), undefined);
  await new Promise((r) => setTimeout(r, 30));
  assert.equal(dials(), 2);
  spare.destroy();
});

test('a spare nobody takes is closed after `wait`; so is one the server closes or speaks on first', async (t) => {
  let speak = false;
  let closeIt = false;
  const server = await startTcpServer(t, (s) => {
    if (speak) s.write('hello first');
    if (closeIt) setTimeout(() => s.end(), 20);
  });
  const results: SpareResult[] = [];
  const spares = new UpstreamSpares((_upstream, result) => results.push(result));
  t.after(() => spares.close());
  const { dial } = dialer(server.port);

  spares.take('up', 'expire', 150, dial);
  spares.take('up', 'expire', 150, dial);
  await eventually(() => spares.held === 1, 5000, 'held');
  await eventually(() => spares.held === 0 && server.open() === 0, 5000, 'closed after wait (both ends)');

  closeIt = true;
  spares.take('up', 'closed', 5000, dial);
  spares.take('up', 'closed', 5000, dial);
  await eventually(() => server.accepted() === 2, 5000, 'dialed');
  await eventually(() => spares.held === 0 && server.open() === 0, 5000, 'dropped when the server closed it');
  closeIt = false;

  speak = true;
  spares.take('up', 'speaks', 5000, dial);
  spares.take('up', 'speaks', 5000, dial);
  await eventually(() => server.accepted() === 3, 5000, 'dialed');
  await eventually(() => spares.held === 0 && server.open() === 0, 5000, 'dropped when the server spoke first');
  assert.equal(spares.take('up', 'speaks', 5000, dial), undefined, 'nothing handed over');
  assert.deepEqual(results, ['expired', 'closed', 'closed']);
});

test('a spare that cannot be opened is counted as failed, and nothing is held', async (t) => {
  const results: SpareResult[] = [];
  const spares = new UpstreamSpares((_upstream, result) => results.push(result));
  t.after(() => spares.close());
  const { dial, dials } = dialer(await closedPort());
  spares.take('up', 'a', 5000, dial);
  spares.take('up', 'a', 5000, dial);
  await eventually(() => results.length === 1, 5000, 'reported');
  assert.deepEqual(results, ['failed']);
  assert.equal(spares.held, 0);
  assert.equal(dials(), 1);
});

test('closeAll closes held spares; after close() nothing is dialed or handed over', async (t) => {
  const server = await startTcpServer(t, () => {});
  const results: SpareResult[] = [];
  const spares = new UpstreamSpares((_upstream, result) => results.push(result));
  const { dial, dials } = dialer(server.port);
  spares.take('up', 'a', 5000, dial);
  spares.take('up', 'a', 5000, dial);
  await eventually(() => spares.held === 1, 5000, 'held');
  spares.closeAll();
  await eventually(() => server.open() === 0, 5000, 'the server sees it closed');
  spares.close();
  assert.equal(spares.take('up', 'a', 5000, dial), undefined);
  assert.equal(spares.take('up', 'a', 5000, dial), undefined);
  await new Promise((r) => setTimeout(r, 30));
  assert.equal(dials(), 1, 'no dial after close()');
  assert.equal(spares.take('up', 'a', 0, dial), undefined, 'wait 0 is off');
  assert.deepEqual(results, [], 'closing is no spare result');
});
