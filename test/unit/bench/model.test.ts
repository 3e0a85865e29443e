import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { allScenarios, rotation, selectScenarios, settingsFromEnv } from '../../../scripts/bench/model.ts';
import {
  definitions,
  haproxyConf,
  nginxConf,
  type ProxyDef,
  parseTapHelp,
  selectProxies,
  wsgateTrafficConfig,
} from '../../../scripts/bench/proxies.ts';
import { loadConfigText } from '../../../src/config/load.ts';

describe('settingsFromEnv', () => {
  test('full defaults', () => {
    const s = settingsFromEnv({});
    assert.deepEqual(
      [s.quick, s.reps, s.durationS, s.warmupS, s.handshakes, s.idleConns],
      [false, 5, 3, 0.5, 200, 2000],
    );
  });
  test('quick mode from BENCH_QUICK=1 or the flag', () => {
    for (const s of [settingsFromEnv({ BENCH_QUICK: '1' }), settingsFromEnv({}, true)]) {
      assert.deepEqual([s.quick, s.reps, s.durationS, s.handshakes, s.idleConns], [true, 1, 1, 100, 1000]);
    }
  });
  test('explicit values win, also in quick mode', () => {
    const s = settingsFromEnv({ BENCH_QUICK: '1', BENCH_REPS: '3', BENCH_IDLE_CONNS: '700' });
    assert.equal(s.reps, 3);
    assert.equal(s.idleConns, 700);
  });
  test('nonsense is refused', () => {
    assert.throws(() => settingsFromEnv({ BENCH_REPS: 'five' }), /BENCH_REPS/);
    assert.throws(() => settingsFromEnv({ BENCH_DURATION: '-1' }), /BENCH_DURATION/);
  });
});

describe('scenarios', () => {
  const all = allScenarios({ handshakes: 200, idleConns: 2000 });
  test('the eight scenarios of issue 7', () => {
    assert.deepEqual(
      all.map((s) => s.id),
      ['64B-c1', '64B-c50', '64KiB-c1', '64KiB-c4', '1MiB-c1', '1MiB-c4', 'handshake', 'idle'],
    );
  });
  test('select by group, id and "throughput"', () => {
    assert.deepEqual(
      selectScenarios(all, 'small,idle').map((s) => s.id),
      ['64B-c1', '64B-c50', 'idle'],
    );
    assert.equal(selectScenarios(all, 'throughput').length, 6);
    assert.deepEqual(
      selectScenarios(all, '1MiB-c4 handshake').map((s) => s.id),
      ['1MiB-c4', 'handshake'],
    );
    assert.equal(selectScenarios(all, undefined).length, 8);
    assert.throws(() => selectScenarios(all, 'huge'), /unknown scenario/);
  });
  test('rotation shifts by one per rep', () => {
    assert.deepEqual(rotation(['a', 'b', 'c'], 1), ['a', 'b', 'c']);
    assert.deepEqual(rotation(['a', 'b', 'c'], 2), ['b', 'c', 'a']);
    assert.deepEqual(rotation(['a', 'b', 'c'], 4), ['a', 'b', 'c']);
    assert.deepEqual(rotation([], 3), []);
  });
});

describe('proxies', () => {
  test('parseTapHelp: no --tap option', () => {
    assert.deepEqual(parseTapHelp('Options:\n  --listen HOST:PORT  listen\n  --log-level LEVEL  x\n'), []);
  });
  test('parseTapHelp: the levels on the --tap line', () => {
    assert.deepEqual(parseTapHelp('      --tap LEVEL         frame tap: off (default), meta, frames or payload\n'), [
      'off',
      'meta',
      'frames',
      'payload',
    ]);
    assert.deepEqual(parseTapHelp('      --tap LEVEL   off|frames\n'), ['off', 'frames']);
    assert.deepEqual(parseTapHelp('      --tap LEVEL   see docs\n'), ['off', 'meta', 'frames', 'payload']);
  });
  const def = (name: string, kind: ProxyDef['kind'], missing: string | null = null): ProxyDef => ({
    name,
    kind,
    missing: () => missing,
    info: () => name,
    settleMs: 0,
  });
  const defs = [
    def('direct', 'direct'),
    def('wsgate-off', 'wsgate'),
    def('wsgate-frames', 'wsgate'),
    def('hp3', 'peer'),
    def('nginx', 'peer', 'nginx not installed'),
  ];
  test('selectProxies: all by default, missing ones skipped with the reason', () => {
    const { chosen, skipped } = selectProxies(defs, undefined);
    assert.deepEqual(
      chosen.map((d) => d.name),
      ['direct', 'wsgate-off', 'wsgate-frames', 'hp3'],
    );
    assert.deepEqual(skipped, [{ name: 'nginx', why: 'nginx not installed' }]);
  });
  test('selectProxies: "wsgate" picks every variant, direct is always added', () => {
    assert.deepEqual(
      selectProxies(defs, 'wsgate').chosen.map((d) => d.name),
      ['direct', 'wsgate-off', 'wsgate-frames'],
    );
    assert.deepEqual(
      selectProxies(defs, 'hp3,wsgate-frames').chosen.map((d) => d.name),
      ['direct', 'wsgate-frames', 'hp3'],
    );
    assert.throws(() => selectProxies(defs, 'envoy'), /unknown proxy "envoy"/);
  });
  test('nginx runs one worker without buffering, haproxy one thread, both on loopback', () => {
    const n = nginxConf(8081, '127.0.0.1:9001', '/tmp/x', false);
    assert.match(n, /worker_processes 1;/);
    assert.match(n, /proxy_buffering off;/);
    assert.match(n, /listen 127\.0\.0\.1:8081;/);
    assert.doesNotMatch(n, /user root/);
    const h = haproxyConf(8082, '127.0.0.1:9001');
    assert.match(h, /nbthread 1/);
    assert.match(h, /bind 127\.0\.0\.1:8082/);
  });
});

describe('wsgate variants', () => {
  test('one plain row without --tap; one per level, plus +log rows, with it', () => {
    const wsgate = (taps: string[], logTaps: string[] = []) =>
      definitions(taps, logTaps)
        .filter((d) => d.kind === 'wsgate')
        .map((d) => d.name);
    assert.deepEqual(wsgate([]), ['wsgate']);
    assert.deepEqual(wsgate(['off', 'meta', 'frames', 'payload'], ['frames', 'payload']), [
      'wsgate-off',
      'wsgate-meta',
      'wsgate-frames',
      'wsgate-payload',
      'wsgate-frames+log',
      'wsgate-payload+log',
      'wsgate-relay',
      'wsgate-rules-elsewhere',
      'wsgate-store',
    ]);
  });
  test('the variants are command lines with the tap level', () => {
    const d = definitions(['frames']).find((x) => x.name === 'wsgate-frames')!;
    const { args } = d.command!({ port: 8081, target: '127.0.0.1:9001', dir: '/tmp/x' });
    assert.deepEqual(args.slice(-6), ['--upstream', 'ws://127.0.0.1:9001', '--log-level', 'warn', '--tap', 'frames']);
  });
  test('the +log config is a valid wsgate config with the tap level and the traffic file', () => {
    const text = wsgateTrafficConfig(8081, '127.0.0.1:9001', 'payload', '/tmp/x y/traffic.jsonl');
    const config = loadConfigText(text, 'bench.yaml', {});
    assert.equal(config.tap.level, 'payload');
    assert.equal(config.log.traffic, '/tmp/x y/traffic.jsonl');
    assert.equal(config.log.level, 'warn');
    assert.deepEqual(config.listeners[0]!.bind, { host: '127.0.0.1', port: 8081 });
    assert.equal(config.listeners[0]!.routes[0]!.upstream.url, 'ws://127.0.0.1:9001');
  });
});
