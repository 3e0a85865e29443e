import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import { parseListenDrops, parseSmapsRollup } from '../../../scripts/soak/procfs.ts';

const ROLLUP = `557e2f073000-7ffc93591000 ---p 00000000 00:00 0                          [rollup]
Rss:              341780 kB
Pss:              340208 kB
Anonymous:        301112 kB
LazyFree:         187004 kB
AnonHugePages:         0 kB
`;

describe('parseSmapsRollup', () => {
  test('reads Rss, LazyFree and Anonymous', () => {
    assert.deepEqual(parseSmapsRollup(ROLLUP), { rssKiB: 341780, lazyFreeKiB: 187004, anonymousKiB: 301112 });
  });
  test('a missing field is null (older kernels have no LazyFree)', () => {
    assert.deepEqual(parseSmapsRollup(ROLLUP.replace(/^LazyFree.*\n/m, '')).lazyFreeKiB, null);
    assert.deepEqual(parseSmapsRollup(''), { rssKiB: null, lazyFreeKiB: null, anonymousKiB: null });
  });
  test("this process's own rollup parses, where the kernel has one", (t) => {
    let text: string;
    try {
      text = readFileSync('/proc/self/smaps_rollup', 'utf8');
    } catch {
      t.skip('no /proc/self/smaps_rollup');
      return;
    }
    const r = parseSmapsRollup(text);
    assert.ok(r.rssKiB !== null && r.rssKiB > 0);
  });
});

describe('parseListenDrops', () => {
  const NETSTAT =
    'TcpExt: SyncookiesSent ListenOverflows ListenDrops TCPHPHits\n' +
    'TcpExt: 0 12 15 999\n' +
    'IpExt: InNoRoutes InTruncatedPkts\n' +
    'IpExt: 0 0\n';
  test('reads the two counters by name, wherever they stand', () => {
    assert.deepEqual(parseListenDrops(NETSTAT), { listenOverflows: 12, listenDrops: 15 });
  });
  test('null without the TcpExt lines or the fields', () => {
    assert.equal(parseListenDrops('IpExt: a\nIpExt: 1\n'), null);
    assert.equal(parseListenDrops('TcpExt: SyncookiesSent\nTcpExt: 0\n'), null);
  });
  test("this machine's /proc/net/netstat parses, where there is one", (t) => {
    let text: string;
    try {
      text = readFileSync('/proc/net/netstat', 'utf8');
    } catch {
      t.skip('no /proc/net/netstat');
      return;
    }
    const r = parseListenDrops(text);
    assert.ok(r !== null && r.listenOverflows >= 0 && r.listenDrops >= 0);
  });
});
