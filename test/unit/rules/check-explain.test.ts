// `wsgate check --explain URL` lists the rules a connection to that URL would get on each listener, and why.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { checkCommand } from '../../../src/cli/check.ts';

async function check(args: string[]): Promise<{ code: number; out: string }> {
  let out = '';
  const write = (t: string) => {
    out += `${t}\n`;
  };
  const io = { out: write, err: write };
  const code = await checkCommand(args, io);
  return { code, out };
}

const CONFIG = `
listeners:
  - name: web
    bind: 127.0.0.1:0
    routes:
      - name: chat
        match: { pathPrefix: /chat }
        upstream: ws://127.0.0.1:9998
        rules: [slow-typing, admin-only]
      - name: plain
        upstream: ws://127.0.0.1:9998
  - name: proxy
    bind: 127.0.0.1:0
    forward: { profile: auth-407 }
rules:
  - name: slow-typing
    match: { direction: toClient, text: typing }
    actions: [{ delay: 500ms }]
  - name: admin-only
    match: { host: admin.example.com }
    actions: [{ idleCut: 10s }]
`;

test('check --explain lists the rules that would apply and why', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'wsgate-rules-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'c.yaml');
  writeFileSync(file, CONFIG);
  const chat = await check(['-c', file, '--explain', 'ws://chat.example.com/chat/room']);
  assert.equal(chat.code, 0);
  assert.equal(
    chat.out,
    [
      'web: route "chat": path starts with "/chat" → ws://127.0.0.1:9998',
      '  rule slow-typing applies (relayed: message rules): every connection; messages: direction toClient, text contains "typing"; does: delay it 500ms',
      '  rule admin-only does not apply: host "chat.example.com" ✗ (host is "admin.example.com"); does: cut TCP after 10s idle',
      'proxy: forward proxy: absolute-form request to chat.example.com:80 is allowed (names are checked again once resolved)',
      '  rule auth-407/proxy-auth applies: every connection; does: answer CONNECT with 407',
      '',
    ].join('\n'),
  );
  const plain = await check(['-c', file, '--explain', 'ws://127.0.0.1/x']);
  assert.match(plain.out, /^web: route "plain".*\n {2}rules: none\n/);
});

test('check --explain tries the headers given with -H, says which routes need headers it was not given, and flags a listener on another port', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'wsgate-rules-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'c.yaml');
  writeFileSync(
    file,
    `
listeners:
  - name: web
    bind: 127.0.0.1:8080
    routes:
      - name: v2
        match: [{ path: /ws, headers: { x-version: "2" } }, { path: /v2, headers: { x-beta: "/./" } }]
        upstream: ws://127.0.0.1:9002
      - name: byhost
        match: { host: admin.example.test }
        upstream: ws://127.0.0.1:9004
      - name: any
        upstream: ws://127.0.0.1:9001
  - name: admin
    bind: 127.0.0.1:9090
    routes: [{ name: all, upstream: ws://127.0.0.1:9003 }]
`,
  );
  const bare = await check(['-c', file, '--explain', 'ws://127.0.0.1:8080/ws']);
  assert.equal(bare.code, 0);
  assert.match(bare.out, /^web: route "any": any request → ws:\/\/127\.0\.0\.1:9001$/m);
  // Only the headers of match objects whose path fits: x-beta is /v2's, which no header could make /ws take.
  assert.match(bare.out, /^ {2}note: route "v2" \(x-version\) matches on headers not given/m);
  const elsewhere = await check(['-c', file, '--explain', 'ws://127.0.0.1:8080/nothing']);
  assert.match(elsewhere.out, /^web: route "any"/m);
  assert.doesNotMatch(elsewhere.out, /note:/);
  assert.match(bare.out, /^admin \(on port 9090, not the URL's 8080\): route "all"/m);
  const given = await check(['-c', file, '--explain', 'ws://127.0.0.1:8080/ws', '-H', 'X-Version: 2']);
  assert.match(
    given.out,
    /^web: route "v2": path is "\/ws" and header x-version is "2" \(match 1 of 2\) → ws:\/\/127\.0\.0\.1:9002$/m,
  );
  assert.doesNotMatch(given.out, /note:/);
  // A header given with a value the route does not want: the route is named as not taken, and why.
  const other = await check(['-c', file, '--explain', 'ws://127.0.0.1:8080/ws', '-H', 'X-Version: 3']);
  assert.match(other.out, /^web: route "any": any request/m);
  assert.match(other.out, /^ {2}not taken: route "v2": header x-version is "3", not "2"$/m);
  // -H Host: wins over the URL's host, as curl sends it.
  const hosted = await check(['-c', file, '--explain', 'ws://127.0.0.1:8080/x', '-H', 'Host: Admin.Example.Test']);
  assert.match(hosted.out, /^web: route "byhost": host is "admin\.example\.test"/m);
  await assert.rejects(check(['-c', file, '--explain', 'ws://127.0.0.1:8080/ws', '-H', 'no colon']), {
    code: 'WSG_USAGE',
  });
});

test('check --explain says whether a forward listener decrypts a wss:// tunnel (forward.intercept) or passes it blind', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'wsgate-rules-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'c.yaml');
  writeFileSync(
    file,
    `
listeners:
  - name: proxy
    bind: 127.0.0.1:8888
    forward: { intercept: ["*.example.test"] }
`,
  );
  const seen = await check(['-c', file, '--explain', 'wss://chat.example.test/ws']);
  assert.equal(seen.code, 0, seen.out);
  assert.match(
    seen.out,
    /^proxy: forward proxy: CONNECT tunnel to chat\.example\.test:443 is allowed .*; TLS intercepted \(forward\.intercept\)/m,
  );
  const blind = await check(['-c', file, '--explain', 'https://other.test/']);
  assert.match(
    blind.out,
    /^proxy: forward proxy: CONNECT tunnel to other\.test:443 is allowed .*; TLS not intercepted \(no forward\.intercept entry matches\)/m,
  );
  // ws:// goes as an absolute-form request: no TLS to speak of.
  const plain = await check(['-c', file, '--explain', 'ws://chat.example.test/ws']);
  assert.doesNotMatch(plain.out, /intercept/);
});
