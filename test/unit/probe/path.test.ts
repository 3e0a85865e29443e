// The probe's path choice (explicit proxy, PAC answer, environment, direct), PAC result parsing, the human
// rendering and the command line's options.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { probeOptions } from '../../../src/cli/probe.ts';
import { pacUrlFor, parsePacResult, planPath } from '../../../src/probe/path.ts';
import { markOf, renderReport } from '../../../src/probe/render.ts';
import type { ProbeReport } from '../../../src/probe/report.ts';

test('parsePacResult: DIRECT, PROXY, HTTPS kept in order; SOCKS skipped and listed', () => {
  const parsed = parsePacResult(' PROXY a.corp:3128; SOCKS5 s:1080 ;HTTPS b.corp:443; DIRECT;');
  assert.deepEqual(
    parsed.entries.map((e) => (e.kind === 'direct' ? 'DIRECT' : `${e.scheme}://${e.hostPort}`)),
    ['http://a.corp:3128', 'https://b.corp:443', 'DIRECT'],
  );
  assert.deepEqual(parsed.skipped, ['SOCKS5 s:1080']);
});

test('pacUrlFor: ws and wss become http and https, as Chromium asks PAC scripts', () => {
  assert.equal(pacUrlFor(new URL('ws://h.test:8080/a?b=1')), 'http://h.test:8080/a?b=1');
  assert.equal(pacUrlFor(new URL('wss://h.test/a')), 'https://h.test/a');
});

test('planPath: --no-proxy, --proxy (credentials kept out of the route), PAC, environment with NO_PROXY', () => {
  const url = new URL('ws://app.test/socket');
  assert.deepEqual(planPath({ url, noProxy: true, proxy: 'http://p:1', env: {} }), {
    ok: true,
    routes: [{ kind: 'direct', source: '--no-proxy' }],
    notes: [],
  });
  const explicit = planPath({ url, proxy: 'http://ann:pw@p.corp:3128', env: {} });
  assert.ok(explicit.ok);
  assert.equal(explicit.routes[0]?.proxy, 'http://p.corp:3128');
  assert.equal(explicit.routes[0]?.mode, 'absolute-form');
  assert.match(explicit.routes[0]?.authorization ?? '', /^Basic /);
  const tunnel = planPath({ url, proxy: 'p.corp:3128', env: {}, tunnel: true });
  assert.ok(tunnel.ok);
  assert.equal(tunnel.routes[0]?.mode, 'tunnel');
  assert.equal(planPath({ url, proxy: 'socks5://s:1080', env: {} }).ok, false);

  const pac = planPath({ url, pac: { result: 'PROXY p1:1; DIRECT', source: 'x.pac' }, env: {} });
  assert.ok(pac.ok);
  assert.deepEqual(
    pac.routes.map((r) => r.kind),
    ['proxy', 'direct'],
  );

  const env = { HTTPS_PROXY: 'http://secure.corp:8443', HTTP_PROXY: 'http://plain.corp:3128', NO_PROXY: '.internal' };
  const secure = planPath({ url: new URL('wss://app.test/'), env });
  assert.ok(secure.ok);
  assert.deepEqual([secure.routes[0]?.proxy, secure.routes[0]?.mode], ['http://secure.corp:8443', 'tunnel']);
  const plain = planPath({ url, env });
  assert.ok(plain.ok);
  assert.equal(plain.routes[0]?.proxy, 'http://plain.corp:3128');
  const bypass = planPath({ url: new URL('ws://db.internal/'), env });
  assert.ok(bypass.ok);
  assert.equal(bypass.routes[0]?.kind, 'direct');
  assert.match(bypass.routes[0]?.source ?? '', /no-proxy entry/);
});

test('renderReport: marks, hints under failing and warning steps, colours only when asked', () => {
  const report: ProbeReport = {
    version: 1,
    url: 'ws://h.test/',
    ok: false,
    routes: [{ kind: 'direct', source: '--no-proxy' }],
    steps: [
      { step: 'tcp', ms: 3, verdict: { ok: true, code: 'TCP_OK', detail: 'connected' }, facts: {} },
      {
        step: 'ping',
        ms: 0,
        verdict: { ok: true, warn: true, code: 'PING_NO_PONG', detail: 'no pong', hint: 'h1' },
        facts: {},
      },
      { step: 'idle', ms: 9, verdict: { ok: false, code: 'IDLE_CUT', detail: 'cut', hint: 'h2' }, facts: {} },
    ],
    verdict: { ok: false, code: 'IDLE_CUT', detail: 'cut', hint: 'h2', step: 'idle' },
    startedAt: '2026-12-02T00:00:00.000Z',
    ms: 12,
  };
  const plain = renderReport(report, { color: false });
  assert.equal(
    plain,
    'wsgate probe ws://h.test/\n✓ tcp       connected  3 ms\n! ping      no pong\n            hint: h1\n✗ idle      cut  9 ms\n\n✗ fails at idle: IDLE_CUT: cut\n  what to change: h2\n',
  );
  assert.ok(!plain.includes('\u001b['));
  assert.ok(renderReport(report, { color: true }).includes('\u001b[31m✗'));
  assert.equal(markOf({ ok: true, code: 'X', detail: '' }), '✓');
});

test('probeOptions: the command line into ProbeOptions, and usage errors', () => {
  const { options, json } = probeOptions([
    'https://h.test/live',
    '--proxy',
    'http://p:1',
    '--subprotocol',
    'a',
    '--subprotocol',
    'b',
    '--header',
    'Cookie: s=1',
    '--idle',
    '90s',
    '--timeout',
    '3s',
    '--json',
  ]);
  assert.equal(json, true);
  assert.equal(options.url, 'wss://h.test/live');
  assert.deepEqual(options.subprotocols, ['a', 'b']);
  assert.deepEqual(options.headers, [['Cookie', 's=1']]);
  assert.deepEqual([options.idle, options.timeoutMs], [90_000, 3000]);
  assert.equal(probeOptions(['ws://h.test/', '--idle', 'bisect']).options.idle, 'bisect');
  for (const bad of [
    [],
    ['ftp://h.test/'],
    ['ws://h.test/', 'ws://other.test/'],
    ['ws://h.test/', '--pac', 'x.pac', '--proxy', 'http://p:1'],
    ['ws://h.test/', '--header', 'no colon'],
    ['ws://h.test/', '--timeout', '0s'],
    ['ws://h.test/', '--ca', '/nonexistent/ca.pem'],
    ['ws://h.test/', '--bogus'],
  ]) {
    assert.throws(() => probeOptions(bad), { code: 'WSG_USAGE' }, bad.join(' '));
  }
});
