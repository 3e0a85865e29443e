import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { accumulate, type CpuProfile, frameKey, topLines } from '../../../scripts/bench/profile-summary.ts';

// (root) → main → [push → decode, write]; push recursing into itself once.
const frame = (functionName: string, url = '', lineNumber = 0) => ({ functionName, url, lineNumber });
const PROFILE: CpuProfile = {
  nodes: [
    { id: 1, callFrame: frame('(root)'), children: [2, 6] },
    { id: 2, callFrame: frame('main', 'file:///w/src/cli/main.ts', 9), children: [3, 5] },
    { id: 3, callFrame: frame('push', 'file:///w/src/websocket/observer.ts', 291), children: [4, 7] },
    { id: 4, callFrame: frame('decode', 'file:///w/src/websocket/codec.ts', 480) },
    { id: 5, callFrame: frame('writeBuffer') },
    { id: 6, callFrame: frame('(idle)') },
    { id: 7, callFrame: frame('push', 'file:///w/src/websocket/observer.ts', 291) },
  ],
  samples: [4, 4, 5, 6, 6, 6, 7, 3],
  timeDeltas: [100, 100, 300, 100, 100, 100, 50, 150],
};

describe('profile summary', () => {
  test('frame keys keep the last two path segments and 1-based lines', () => {
    assert.equal(frameKey(frame('push', 'file:///w/src/websocket/observer.ts', 291)), 'push websocket/observer.ts:292');
    assert.equal(frameKey(frame('', 'node:net', 0)), '(anonymous) node:net:1');
    assert.equal(frameKey(frame('(idle)')), '(idle)');
  });
  test('self and inclusive time; recursion counts once', () => {
    const t = accumulate(PROFILE);
    assert.equal(t.totalUs, 1000);
    assert.equal(t.self.get('decode websocket/codec.ts:481'), 200);
    assert.equal(t.self.get('push websocket/observer.ts:292'), 200); // 150 in node 3, 50 in node 7
    assert.equal(t.self.get('(idle)'), 300);
    assert.equal(t.inclusive.get('push websocket/observer.ts:292'), 400); // 200 decode + 150 + 50, not 450
    assert.equal(t.inclusive.get('main cli/main.ts:10'), 700);
    assert.equal(t.inclusive.get('(root)'), 1000);
  });
  test('profiles add up', () => {
    const t = accumulate(PROFILE, accumulate(PROFILE));
    assert.equal(t.totalUs, 2000);
    assert.equal(t.self.get('writeBuffer'), 600);
  });
  test('top lines are sorted shares of all sampled time', () => {
    const t = accumulate(PROFILE);
    assert.deepEqual(topLines(t.self, t.totalUs, 2), ['  30.0%  writeBuffer', '  30.0%  (idle)']);
    assert.deepEqual(
      topLines(t.inclusive, t.totalUs, 1, (k) => k.includes('websocket/')),
      ['  40.0%  push websocket/observer.ts:292'],
    );
  });
});
