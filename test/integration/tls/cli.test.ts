// The TLS parts of the CLI as a user meets them: `wsgate ca init | export | trust-help`, exit code 2 naming the
// file for a bad CA or a certificate/key pair that does not belong together (in `check` and in `run`, before
// anything listens), and SSLKEYLOGFILE honoured by `wsgate run`.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash, X509Certificate } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import { join } from 'node:path';
import { test } from 'node:test';
import { CLI, runCli, startCli } from '../../helpers/cli.ts';
import { closedPort } from '../../helpers/servers.ts';
import { makeTestCa, tempDir, writePair } from '../../helpers/tls.ts';

const posix = process.platform !== 'win32';

/** The environment of every CLI run here: a home of its own, so nothing touches the real ~/.wsgate. */
function envFor(home: string): NodeJS.ProcessEnv {
  return { HOME: home, USERPROFILE: home, SSLKEYLOGFILE: '' };
}

test('ca init: key 0600 in a 0700 directory; a second init refuses (exit 2); --force replaces it', async (t) => {
  const home = tempDir(t);
  const dir = join(home, 'my-ca');
  const first = await runCli(['ca', 'init', '--dir', dir], { cwd: home, env: envFor(home) });
  assert.equal(first.code, 0, first.stderr);
  assert.match(first.stdout, /created a CA in .*my-ca/);
  // The next step names this CA's directory: a bare `wsgate ca trust-help` would look in ~/.wsgate/ca.
  assert.ok(first.stdout.includes(`wsgate ca trust-help --dir ${dir}`), first.stdout);
  if (posix) {
    assert.equal(statSync(dir).mode & 0o777, 0o700);
    assert.equal(statSync(join(dir, 'ca-key.pem')).mode & 0o777, 0o600);
    assert.equal(statSync(join(dir, 'leaf-key.pem')).mode & 0o777, 0o600);
  }
  const fingerprint = () => new X509Certificate(readFileSync(join(dir, 'ca.pem'))).fingerprint256;
  const before = fingerprint();

  const again = await runCli(['ca', 'init', '--dir', dir], { cwd: home, env: envFor(home) });
  assert.equal(again.code, 2);
  assert.match(again.stderr, /a CA already exists in .*my-ca/);
  // The command to replace it names the same directory: a bare `--force` would replace ~/.wsgate/ca instead.
  assert.ok(again.stderr.includes(`replace it with \`wsgate ca init --dir ${dir} --force\``), again.stderr);
  assert.equal(fingerprint(), before);

  const forced = await runCli(['ca', 'init', '--dir', dir, '--force'], { cwd: home, env: envFor(home) });
  assert.equal(forced.code, 0, forced.stderr);
  assert.notEqual(fingerprint(), before);
});

test('ca init without --dir uses the config’s tls.caDir, else ~/.wsgate/ca', async (t) => {
  const home = tempDir(t);
  const plain = await runCli(['ca', 'init'], { cwd: home, env: envFor(home) });
  assert.equal(plain.code, 0, plain.stderr);
  assert.equal(existsSync(join(home, '.wsgate', 'ca', 'ca.pem')), true);

  const config = join(home, 'wsgate.yaml');
  writeFileSync(
    config,
    `listeners:\n  - bind: 127.0.0.1:0\n    routes: [{ upstream: "ws://127.0.0.1:1" }]\ntls: { caDir: ${join(home, 'from-config')} }\n`,
  );
  const viaConfig = await runCli(['ca', 'init', '-c', config], { cwd: home, env: envFor(home) });
  assert.equal(viaConfig.code, 0, viaConfig.stderr);
  assert.equal(existsSync(join(home, 'from-config', 'ca-key.pem')), true);
});

test('ca export prints the PEM certificate, --der the DER bytes, -o writes a file', async (t) => {
  const home = tempDir(t);
  const dir = join(home, 'ca');
  assert.equal((await runCli(['ca', 'init', '--dir', dir], { cwd: home, env: envFor(home) })).code, 0);
  const pem = readFileSync(join(dir, 'ca.pem'), 'utf8');
  const exported = await runCli(['ca', 'export', '--dir', dir], { cwd: home, env: envFor(home) });
  assert.equal(exported.code, 0, exported.stderr);
  assert.equal(exported.stdout, pem);

  // Binary on stdout: read it as bytes, not as text.
  const der = spawnSync(process.execPath, [CLI, 'ca', 'export', '--der', '--dir', dir], {
    cwd: home,
    env: { ...process.env, ...envFor(home) },
  });
  assert.equal(der.status, 0, der.stderr.toString());
  assert.deepEqual(der.stdout, Buffer.from(new X509Certificate(pem).raw));

  const out = join(home, 'wsgate-ca.cer');
  const toFile = await runCli(['ca', 'export', '--der', '-o', out, '--dir', dir], { cwd: home, env: envFor(home) });
  assert.equal(toFile.code, 0, toFile.stderr);
  assert.deepEqual(readFileSync(out), der.stdout);
  // A file that cannot be written: exit 2, the reason in words.
  const nowhere = join(home, 'no-such-dir', 'ca.cer');
  const failed = await runCli(['ca', 'export', '-o', nowhere, '--dir', dir], { cwd: home, env: envFor(home) });
  assert.equal(failed.code, 2);
  assert.match(failed.stderr, /cannot write .*ca\.cer: no such file$/m);
});

test('a corrupt or missing CA file: exit 2 with the path', async (t) => {
  const home = tempDir(t);
  const dir = join(home, 'ca');
  const missing = await runCli(['ca', 'export', '--dir', dir], { cwd: home, env: envFor(home) });
  assert.equal(missing.code, 2);
  assert.ok(missing.stderr.includes(join(dir, 'ca.pem')), missing.stderr);
  // The hint is the command that makes the CA this one looks for: with the --dir or -c it was given.
  assert.match(missing.stderr, new RegExp(`^hint: Create one with \`wsgate ca init --dir ${dir}\`\\.$`, 'm'));
  const config = join(home, 'my config.yaml');
  writeFileSync(
    config,
    `listeners:\n  - bind: 127.0.0.1:0\n    routes: [{ upstream: "ws://127.0.0.1:1" }]\ntls: { caDir: ${dir} }\n`,
  );
  const viaConfig = await runCli(['ca', 'trust-help', '-c', config], { cwd: home, env: envFor(home) });
  assert.equal(viaConfig.code, 2);
  assert.ok(viaConfig.stderr.includes(`hint: Create one with \`wsgate ca init -c '${config}'\`.`), viaConfig.stderr);
  const bare = await runCli(['ca', 'export'], { cwd: home, env: envFor(home) });
  assert.equal(bare.code, 2);
  assert.match(bare.stderr, /^hint: Create one with `wsgate ca init`\.$/m);

  assert.equal((await runCli(['ca', 'init', '--dir', dir], { cwd: home, env: envFor(home) })).code, 0);
  writeFileSync(join(dir, 'ca.pem'), '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n');
  for (const command of ['export', 'trust-help']) {
    const corrupt = await runCli(['ca', command, '--dir', dir], { cwd: home, env: envFor(home) });
    assert.equal(corrupt.code, 2, command);
    assert.ok(corrupt.stderr.includes(join(dir, 'ca.pem')), corrupt.stderr);
    // Replacing it is said for this directory, not for the default one.
    assert.ok(corrupt.stderr.includes(`\`wsgate ca init --force --dir ${dir}\``), corrupt.stderr);
  }
});

test('ca trust-help gives the steps for each client with this CA’s path and SPKI hash', async (t) => {
  const home = tempDir(t);
  const dir = join(home, 'ca');
  assert.equal((await runCli(['ca', 'init', '--dir', dir], { cwd: home, env: envFor(home) })).code, 0);
  const help = await runCli(['ca', 'trust-help', '--dir', dir], { cwd: home, env: envFor(home) });
  assert.equal(help.code, 0, help.stderr);
  const pemPath = join(dir, 'ca.pem');
  const spki = createHash('sha256')
    .update(new X509Certificate(readFileSync(pemPath)).publicKey.export({ type: 'spki', format: 'der' }))
    .digest('base64');
  assert.ok(help.stdout.includes(`NODE_EXTRA_CA_CERTS=${pemPath}`));
  assert.ok(help.stdout.includes(`--ignore-certificate-errors-spki-list=${spki}`), help.stdout);
  assert.ok(help.stdout.includes(`curl --cacert ${pemPath}`));
  for (const section of ['Chromium / Chrome', 'Firefox', 'Debian / Ubuntu', 'macOS', 'Windows']) {
    assert.ok(help.stdout.includes(section), section);
  }
  assert.match(help.stdout, /update-ca-certificates/);
  assert.match(help.stdout, /security add-trusted-cert/);
  assert.match(help.stdout, /certutil -addstore -f Root/);
  // The Windows step's export command works as printed, from anywhere: it names this CA's directory.
  const exportLine = /^\s*wsgate (ca export .*)$/m.exec(help.stdout)?.[1];
  assert.ok(exportLine !== undefined, help.stdout);
  assert.ok(exportLine.includes(`--dir ${dir}`), exportLine);
  const elsewhere = tempDir(t);
  const exported = await runCli(exportLine.split(' '), { cwd: elsewhere, env: envFor(elsewhere) });
  assert.equal(exported.code, 0, exported.stderr);
  assert.deepEqual(readFileSync(join(elsewhere, 'wsgate-ca.cer')), new X509Certificate(readFileSync(pemPath)).raw);
});

test('ca trust-help names the forward listener of the config (-c), a wildcard bind as loopback', async (t) => {
  const home = tempDir(t);
  const dir = join(home, 'ca');
  assert.equal((await runCli(['ca', 'init', '--dir', dir], { cwd: home, env: envFor(home) })).code, 0);
  const config = join(home, 'fwd.yaml');
  const forwardOn = (bind: string) =>
    writeFileSync(
      config,
      `tls:\n  caDir: ${dir}\nlisteners:\n  - name: fwd\n    bind: "${bind}"\n    forward: { allowHosts: [example.test] }\n`,
    );
  forwardOn('127.0.0.1:3129');
  const named = await runCli(['ca', 'trust-help', '-c', config], { cwd: home, env: envFor(home) });
  assert.equal(named.code, 0, named.stderr);
  assert.ok(named.stdout.includes('--proxy http://127.0.0.1:3129 '), named.stdout);
  assert.ok(named.stdout.includes('--proxy-server=http://127.0.0.1:3129 '), named.stdout);
  // As a port (":8888"): the bare digits can occur in the CA's random fingerprint or the temp dir's name.
  assert.doesNotMatch(named.stdout, /:8888\b/, 'no default port when the config names one');
  forwardOn('0.0.0.0:3130');
  const wildcard = await runCli(['ca', 'trust-help', '-c', config], { cwd: home, env: envFor(home) });
  assert.ok(wildcard.stdout.includes('HTTPS_PROXY=http://127.0.0.1:3130 '), wildcard.stdout);
  // --dir without -c: a default config that does not load changes nothing but the address.
  mkdirSync(join(home, 'config'));
  writeFileSync(join(home, 'config', 'wsgate.yaml'), 'listeners: [\n');
  const lenient = await runCli(['ca', 'trust-help', '--dir', dir], { cwd: home, env: envFor(home) });
  assert.equal(lenient.code, 0, lenient.stderr);
  assert.ok(lenient.stdout.includes('--proxy http://127.0.0.1:8888 '), lenient.stdout);
});

test('a certificate with a key that is not its own: check and run exit 2 naming the files, nothing listens', async (t) => {
  const home = tempDir(t);
  const ca = await makeTestCa();
  const a = writePair(home, 'a', await ca.issue());
  const b = writePair(home, 'b', await ca.issue());
  const echoPort = await closedPort();
  const config = join(home, 'wsgate.yaml');
  writeFileSync(
    config,
    [
      'listeners:',
      '  - bind: 127.0.0.1:0',
      `    tls: { cert: ${a.cert}, key: ${b.key} }`,
      '    routes: [{ upstream: "ws://127.0.0.1:1" }]',
      `echo: { bind: "127.0.0.1:${echoPort}" }`,
      '',
    ].join('\n'),
  );
  const check = await runCli(['check', '-c', config], { cwd: home, env: envFor(home) });
  assert.equal(check.code, 2);
  assert.ok(check.stderr.includes(b.key) && check.stderr.includes(a.cert), check.stderr);
  assert.match(check.stderr, /does not belong to the certificate/);
  // At the key that names the files, as a config issue would be.
  assert.match(check.stderr, /wsgate\.yaml:3:5 listeners\[0\]\.tls: /);

  const run = await runCli(['run', '-c', config, '--log-format', 'json'], { cwd: home, env: envFor(home) });
  assert.equal(run.code, 2);
  assert.ok(run.stderr.includes(b.key), run.stderr);
  assert.doesNotMatch(run.stdout + run.stderr, /listening|echo server on/);

  writeFileSync(config, readFileSync(config, 'utf8').replace(b.key, join(home, 'nope.pem')));
  const unreadable = await runCli(['run', '-c', config], { cwd: home, env: envFor(home) });
  assert.equal(unreadable.code, 2);
  assert.match(
    unreadable.stderr,
    /wsgate\.yaml:3:5 listeners\[0\]\.tls: cannot use key file .*nope\.pem: no such file/,
  );
});

test('wsgate run with SSLKEYLOGFILE appends the secrets of a TLS connection through the listener', async (t) => {
  const home = tempDir(t);
  const ca = await makeTestCa();
  const site = writePair(home, 'site', await ca.issue());
  const keyLog = join(home, 'sslkeys.log');
  const config = join(home, 'wsgate.yaml');
  writeFileSync(
    config,
    [
      'listeners:',
      '  - bind: 127.0.0.1:0',
      `    tls: { cert: ${site.cert}, key: ${site.key} }`,
      '    routes: [{ upstream: "ws://127.0.0.1:1" }]',
      'shutdown: { grace: 200ms }',
      '',
    ].join('\n'),
  );
  const cli = startCli(['run', '-c', config, '--log-format', 'json'], {
    cwd: home,
    env: { ...envFor(home), SSLKEYLOGFILE: keyLog },
  });
  t.after(() => cli.child.kill('SIGKILL'));
  const [, port] = await cli.waitForOutput(/listening on 127\.0\.0\.1:(\d+)/);
  const status = await new Promise<number>((resolve, reject) => {
    https
      .get(`https://127.0.0.1:${port}/`, { ca: ca.cert, agent: false, maxVersion: 'TLSv1.2' }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      })
      .on('error', reject);
  });
  assert.equal(status, 502, 'the route’s upstream is down; the TLS session is what counts');
  cli.child.kill('SIGTERM');
  assert.equal((await cli.exited).code, 0);
  assert.match(readFileSync(keyLog, 'utf8'), /^CLIENT_RANDOM [0-9a-f]{64} [0-9a-f]{96}$/m);
  if (posix) assert.equal(statSync(keyLog).mode & 0o777, 0o600);
});
