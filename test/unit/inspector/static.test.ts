// The inspector's static files over a real HTTP server: pages and assets with their content types, the CSP and
// cache headers, ETag revalidation, HEAD, methods other than GET/HEAD, the vendor modules with their bare imports
// rewritten, the /demo default URL, and that no spelling of `..` reaches a file outside the table.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import { configFromObject } from '../../../src/config/load.ts';
import { CONTENT_SECURITY_POLICY, createStaticHandler, demoUrlFor } from '../../../src/inspector/static.ts';

async function serve(t: import('node:test').TestContext, demoUrl?: string) {
  const handler = createStaticHandler(demoUrl === undefined ? {} : { demoUrl });
  const server = http.createServer((req, res) => {
    if (!handler(req, res)) {
      res.writeHead(404, { 'x-fallthrough': '1' });
      res.end();
    }
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.after(() => new Promise<void>((r) => server.close(() => r())));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return base;
}

/** A raw request, so paths like /ui/../x reach the server exactly as written (fetch would normalise them). */
function raw(base: string, path: string, method = 'GET', headers: Record<string, string> = {}) {
  return new Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }>((resolve, reject) => {
    const req = http.request(`${base}/`, { method, path, headers }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

test('pages, assets and vendor modules are served with their types, the CSP and no-cache + ETag', async (t) => {
  const base = await serve(t);
  const cases: [string, RegExp, RegExp][] = [
    ['/', /^text\/html; charset=utf-8$/, /<script type="module" src="\/ui\/app.js">/],
    ['/?token=abc', /^text\/html/, /wsgate inspector/],
    ['/demo', /^text\/html/, /WebSocket test page/],
    ['/ui/app.js', /^text\/javascript/, /import/],
    ['/ui/demo.js', /^text\/javascript/, /new WebSocket/],
    ['/ui/style.css', /^text\/css/, /prefers-color-scheme: dark/],
    ['/ui/icon.svg', /^image\/svg\+xml$/, /<svg/],
    ['/vendor/preact.mjs', /^text\/javascript/, /export\{/],
    ['/vendor/htm.mjs', /^text\/javascript/, /export/],
  ];
  for (const [path, type, body] of cases) {
    const res = await raw(base, path);
    assert.equal(res.status, 200, path);
    assert.match(String(res.headers['content-type']), type, path);
    assert.match(res.body, body, path);
    assert.equal(res.headers['content-security-policy'], CONTENT_SECURITY_POLICY, path);
    assert.equal(res.headers['x-content-type-options'], 'nosniff', path);
    assert.equal(res.headers['cache-control'], 'no-cache', path);
    assert.match(String(res.headers.etag), /^"[\w-]+"$/, path);
  }
  assert.match(CONTENT_SECURITY_POLICY, /script-src 'self'(;|$)/, 'no inline script');
  assert.doesNotMatch(CONTENT_SECURITY_POLICY, /unsafe-inline|unsafe-eval/);
});

test('the vendor hooks module imports preact by a relative URL (no import map, which the CSP would block)', async (t) => {
  const base = await serve(t);
  const hooks = await raw(base, '/vendor/hooks.mjs');
  assert.equal(hooks.status, 200);
  assert.match(hooks.body, /from"\.\/preact\.mjs"/);
  assert.doesNotMatch(hooks.body, /from\s*["']preact["']/);
});

test('ETag revalidation answers 304; HEAD has the headers and no body; POST is 405', async (t) => {
  const base = await serve(t);
  const first = await raw(base, '/ui/style.css');
  const again = await raw(base, '/ui/style.css', 'GET', { 'if-none-match': String(first.headers.etag) });
  assert.equal(again.status, 304);
  assert.equal(again.body, '');
  const head = await raw(base, '/demo', 'HEAD');
  assert.equal(head.status, 200);
  assert.equal(head.body, '');
  assert.ok(Number(head.headers['content-length']) > 100);
  const post = await raw(base, '/', 'POST');
  assert.equal(post.status, 405);
  assert.equal(post.headers.allow, 'GET, HEAD');
});

test('paths outside the table fall through, whatever the spelling of ..', async (t) => {
  const base = await serve(t);
  for (const path of [
    '/ui/../static.ts',
    '/ui/%2e%2e/static.ts',
    '/ui/..%2fstatic.ts',
    '/ui/%2E%2E%2Fstatic.ts',
    '/ui/..\\static.ts',
    '/vendor/../../../package.json',
    '/vendor/preact',
    '/vendor/%2e%2e/preact/package.json',
    '/ui/',
    '/ui',
    '//ui/app.js',
    '/ui/app.js/',
    '/ui/app.js%00',
    '/index.html',
    '/ui/index.html',
    '/api/connections',
  ]) {
    const res = await raw(base, path);
    assert.equal(res.status, 404, path);
    assert.equal(res.headers['x-fallthrough'], '1', path);
  }
});

test('/ui/defaults.json carries the demo URL; demoUrlFor finds the echo route through wsgate', async (t) => {
  const base = await serve(t, 'ws://127.0.0.1:8080/echo');
  const res = await raw(base, '/ui/defaults.json');
  assert.match(String(res.headers['content-type']), /^application\/json/);
  assert.deepEqual(JSON.parse(res.body), { demoUrl: 'ws://127.0.0.1:8080/echo' });

  const config = configFromObject(
    {
      listeners: [
        { name: 'other', bind: '0.0.0.0:8081', routes: [{ name: 'app', upstream: 'ws://127.0.0.1:3000' }] },
        {
          name: 'web',
          bind: '0.0.0.0:8080',
          routes: [{ name: 'echo', match: { path: '/echo' }, upstream: 'ws://127.0.0.1:9998' }],
        },
      ],
      echo: { bind: '127.0.0.1:9998' },
    },
    '<test>',
  );
  assert.equal(demoUrlFor(config), 'ws://127.0.0.1:8080/echo');
  const noRoute = configFromObject(
    { listeners: [{ name: 'p', bind: '127.0.0.1:8888', forward: {} }], echo: { bind: '127.0.0.1:9998' } },
    '<test>',
  );
  assert.equal(demoUrlFor(noRoute), 'ws://127.0.0.1:9998/echo');
  const noEcho = configFromObject({ listeners: [{ name: 'p', bind: '127.0.0.1:8888', forward: {} }] }, '<test>');
  assert.equal(demoUrlFor(noEcho), undefined);
});
