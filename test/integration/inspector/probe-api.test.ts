// POST /api/probe over real HTTP: the probe's JSON report for a local ws echo (direct, with a message round trip)
// and through a proxy that refuses CONNECT; what the API refuses (file paths, insecure, unbounded timeouts); and the
// mutating guard (Content-Type, Origin) that every POST gets.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { AUTH_407, startRefusingProxy } from '../probe/helpers.ts';
import { call, startEchoUpstream, startInspected } from './helpers.ts';

test('POST /api/probe answers the probe report: direct to a ws echo works end to end', async (t) => {
  const echo = await startEchoUpstream(t);
  const gate = await startInspected(t, echo.url);
  const r = await call(gate.adminPort, 'POST', '/api/probe', {
    body: { url: `${echo.url}/x`, noProxy: true, send: 'hello probe', timeout: '5s' },
  });
  assert.equal(r.status, 200, r.body);
  assert.equal(r.json.version, 1);
  assert.equal(r.json.ok, true, JSON.stringify(r.json.verdict));
  const steps = r.json.steps.map((s: { step: string }) => s.step);
  assert.ok(steps.includes('upgrade'), steps.join(','));
  assert.ok(steps.includes('message'), steps.join(','));
});

test('POST /api/probe through a proxy that answers 407 reports the failing CONNECT', async (t) => {
  const echo = await startEchoUpstream(t);
  const gate = await startInspected(t, echo.url);
  const proxy = await startRefusingProxy(t, AUTH_407);
  const r = await call(gate.adminPort, 'POST', '/api/probe', {
    body: { url: 'wss://127.0.0.1:8443/socket', proxy: `http://127.0.0.1:${proxy.port}`, timeout: 5000 },
  });
  assert.equal(r.status, 200, r.body);
  assert.equal(r.json.ok, false);
  assert.equal(r.json.verdict.step, 'connect');
  assert.equal(r.json.verdict.code, 'CONNECT_AUTH_REQUIRED');
});

test('POST /api/probe refuses file paths, insecure, bad URLs and unbounded timeouts; the POST guard applies', async (t) => {
  const echo = await startEchoUpstream(t);
  const gate = await startInspected(t, echo.url);
  const bad = [
    { url: echo.url, pac: '/etc/passwd' },
    { url: echo.url, ca: ['/etc/ssl/private/key.pem'] },
    { url: echo.url, insecure: true },
    { url: echo.url, timeout: 3_600_000 },
    { url: echo.url, timeout: 'forever' },
    { url: 'file:///etc/passwd' },
    { url: echo.url, proxy: 'socks5://127.0.0.1:1080' },
    {},
  ];
  for (const body of bad) {
    const r = await call(gate.adminPort, 'POST', '/api/probe', { body });
    assert.equal(r.status, 400, `${JSON.stringify(body)} → ${r.status} ${r.body}`);
    assert.equal(r.json.error.code, 'WSG_ADMIN_BAD_REQUEST');
  }
  const noType = await call(gate.adminPort, 'POST', '/api/probe', {
    headers: { 'content-type': 'text/plain' },
    body: { url: echo.url },
  });
  assert.equal(noType.status, 415);
  const foreign = await call(gate.adminPort, 'POST', '/api/probe', {
    headers: { origin: 'https://evil.example' },
    body: { url: echo.url },
  });
  assert.equal(foreign.status, 403);
  assert.equal(foreign.json.error.code, 'WSG_ADMIN_ORIGIN');
});
