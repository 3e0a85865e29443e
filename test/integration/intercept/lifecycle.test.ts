// Around the interception itself: the key log gets the secrets of both TLS sessions of an intercepted tunnel (the
// client's with wsgate, and wsgate's with the upstream), matched by client random against what each peer logged;
// wsgate's own TLS to the destination goes through the upstream (corporate) proxy when one applies, with TLS
// inside that proxy's CONNECT tunnel; `wsgate run` with forward.intercept creates the CA on first use, says
// where it is and how to trust it, and loads the same CA on the next start; a reload that adds intercept does too.
import assert from 'node:assert/strict';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { configFromObject } from '../../../src/config/load.ts';
import { startCli } from '../../helpers/cli.ts';
import { tempDir, writePem } from '../../helpers/tls.ts';
import { eventually, forwardConfig, startProxy } from '../forward/helpers.ts';
import {
  clientRandoms,
  requestOver,
  startInterceptProxy,
  startRecordingTlsServer,
  tlsThroughProxy,
  upstreamCa,
} from './helpers.ts';

test('tls.keyLog gets NSS lines for the client side and the upstream side of an intercepted session', async (t) => {
  const site = await startRecordingTlsServer(t, await (await upstreamCa()).issue({ names: ['site.test'] }));
  const file = join(tempDir(t), 'keys.log');
  const gw = await startInterceptProxy(t, {
    intercept: ['site.test'],
    names: ['site.test'],
    config: { tls: { keyLog: file } },
  });
  const client = await tlsThroughProxy(gw.port(), `site.test:${site.port}`, { ca: gw.caPem });
  const res = await requestOver(client.socket, '/k', `site.test:${site.port}`);
  assert.equal(res.status, 200);
  await eventually(() => gw.logs.events('connect.close').length === 1, 5000, 'the tunnel closed');

  const logged = readFileSync(file, 'latin1');
  assert.match(logged, /^CLIENT_TRAFFIC_SECRET_0 [0-9a-f]{64} [0-9a-f]+$/m);
  assert.equal(statSync(file).mode & 0o777, 0o600);
  const inFile = clientRandoms([logged]);
  const [clientSide] = [...clientRandoms(client.keyLog)];
  const [upstreamSide] = [...clientRandoms(site.keyLog)];
  assert.ok(clientSide !== undefined && upstreamSide !== undefined && clientSide !== upstreamSide);
  assert.ok(inFile.has(clientSide), 'the client↔wsgate session is in the key log');
  assert.ok(inFile.has(upstreamSide), 'the wsgate↔upstream session is in the key log');
});

test('wsgate’s TLS to an intercepted destination goes through the upstream proxy (TLS inside its CONNECT)', async (t) => {
  const site = await startRecordingTlsServer(t, await (await upstreamCa()).issue({ names: ['site.test'] }));
  const corp = await startProxy(t, forwardConfig({}), { names: ['site.test'] });
  const gw = await startInterceptProxy(t, {
    intercept: ['site.test'],
    // Only the corporate proxy can resolve site.test: a direct dial would fail.
    names: [],
    forward: { via: 'corp' },
    config: { proxies: [{ name: 'corp', url: `http://127.0.0.1:${corp.port()}` }] },
  });
  const { socket } = await tlsThroughProxy(gw.port(), `site.test:${site.port}`, { ca: gw.caPem });
  const res = await requestOver(socket, '/via-corp', `site.test:${site.port}`);
  assert.equal(res.status, 200, res.body);
  assert.equal((JSON.parse(res.body) as { url: string }).url, '/via-corp');
  // The corporate proxy saw a CONNECT with TLS inside: the decrypted traffic stays between wsgate and the client.
  await eventually(() => corp.logs.events('connect.close').length === 1, 5000, 'corp’s tunnel closed');
  const corpLine = corp.logs.events('connect.close')[0]!;
  assert.equal(corpLine.target, `site.test:${site.port}`);
  assert.equal(corpLine.content, 'tls');
  await eventually(() => gw.logs.events('connect.close').length === 1, 5000, 'the client’s tunnel closed');
  assert.equal(gw.logs.events('connect.close')[0]!.via, `http://127.0.0.1:${corp.port()}`);
});

test('wsgate run with forward.intercept creates the CA on first use (key 0600) and loads it next time', async (t) => {
  const dir = tempDir(t, 'wsgate-intercept-cli-');
  const caDir = join(dir, 'ca');
  const file = join(dir, 'wsgate.yaml');
  writeFileSync(
    file,
    `listeners:
  - name: proxy
    bind: 127.0.0.1:0
    forward: { intercept: ["*.example.test"] }
tls: { caDir: ${JSON.stringify(caDir)} }
shutdown: { grace: 200ms }
log: { format: json }
`,
  );
  const first = startCli(['run', '-c', file]);
  t.after(() => first.child.kill('SIGKILL'));
  // The announce line comes once signals are handled.
  await first.waitForOutput(/wsgate: proxy listening on 127\.0\.0\.1:\d+/);
  // Log lines go out through the log queue, the announce line straight to stderr: either may come first.
  await first.waitForOutput(/"tls\.ca_created"/);
  const created = JSON.parse(
    (first.stdout() + first.stderr()).split('\n').find((l) => l.includes('"tls.ca_created"')) ?? '{}',
  ) as Record<string, string>;
  assert.equal(created['cert'], join(caDir, 'ca.pem'));
  assert.match(created['msg'] ?? '', new RegExp(`wsgate ca trust-help --dir ${caDir}`));
  assert.equal(statSync(join(caDir, 'ca-key.pem')).mode & 0o777, 0o600);
  assert.equal(statSync(join(caDir, 'leaf-key.pem')).mode & 0o777, 0o600);
  assert.equal(statSync(caDir).mode & 0o777, 0o700);
  const pem = readFileSync(join(caDir, 'ca.pem'), 'utf8');
  first.child.kill('SIGTERM');
  assert.equal((await first.exited).code, 0);

  const second = startCli(['run', '-c', file]);
  t.after(() => second.child.kill('SIGKILL'));
  await second.waitForOutput(/wsgate: proxy listening on 127\.0\.0\.1:\d+/);
  await second.waitForOutput(/"event":"tls\.ca"/);
  const output = second.stdout() + second.stderr();
  assert.doesNotMatch(output, /tls\.ca_created/);
  assert.match(output, /"event":"tls\.ca".*intercepting TLS \(proxy\) with the CA /);
  assert.equal(readFileSync(join(caDir, 'ca.pem'), 'utf8'), pem, 'the same CA, not a new one');
  second.child.kill('SIGTERM');
  assert.deepEqual(await second.exited, { code: 0, signal: null }, second.stdout() + second.stderr());
});

test('a reload that adds forward.intercept loads (or creates) the CA and intercepts new tunnels', async (t) => {
  const site = await startRecordingTlsServer(t, await (await upstreamCa()).issue({ names: ['site.test'] }));
  const dir = tempDir(t, 'wsgate-intercept-reload-');
  const caFile = writePem(dir, 'upstream-ca.pem', (await upstreamCa()).cert);
  const config = (forward: Record<string, unknown>) =>
    forwardConfig({ upstreamCa: caFile, ...forward }, { tls: { caDir: join(dir, 'ca') } });
  const gw = await startProxy(t, config({}), { names: ['site.test'] });
  assert.equal(gw.logs.events('tls.ca_created').length, 0, 'no CA without intercept');
  await gw.running.reload(configFromObject(config({ intercept: ['site.test'] }), '<test>'));
  const created = await gw.logs.waitFor('tls.ca_created');
  const caPem = readFileSync(String(created.cert), 'utf8');
  const { socket } = await tlsThroughProxy(gw.port(), `site.test:${site.port}`, { ca: caPem });
  const res = await requestOver(socket, '/after-reload', `site.test:${site.port}`);
  assert.equal(res.status, 200);
  assert.equal((await gw.logs.waitFor('http.access')).path, '/after-reload');
});
