// The CLI as a user meets it: help for every command, the version, exit codes, and config errors
// reported with file, line, column and key.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { CLI, ROOT, runCli } from '../../helpers/cli.ts';

const version = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;

test('--version prints the package version', async () => {
  const r = await runCli(['--version']);
  assert.equal(r.code, 0);
  assert.equal(r.stdout.trim(), version);
});

test('every command has --help with a usage line, exit 0', async () => {
  const commands = ['run', 'check', 'echo', 'tail', 'ca', 'probe', 'upstreams'];
  const runs = await Promise.all(
    [['--help'], ...commands.map((c) => [c, '--help'])].map(async (args) => ({ args, r: await runCli(args) })),
  );
  for (const { args, r } of runs) {
    assert.equal(r.code, 0, args.join(' '));
    assert.match(r.stdout, /^Usage: wsgate/m, args.join(' '));
  }
});

test("help COMMAND prints that command's help, as COMMAND --help does", async () => {
  for (const command of ['run', 'ca', 'tail']) {
    const [help, flag] = await Promise.all([runCli(['help', command]), runCli([command, '--help'])]);
    assert.equal(help.code, 0, help.stderr);
    assert.equal(help.stdout, flag.stdout);
    assert.match(help.stdout, new RegExp(`^Usage: wsgate ${command} `));
  }
  // Help on a command there is not is said, as for `wsgate nope`, not answered with the list and exit 0.
  const [unknownTopic, unknownCommand] = await Promise.all([runCli(['help', 'nope']), runCli(['nope'])]);
  assert.equal(unknownTopic.code, 2);
  assert.equal(unknownTopic.stdout, '');
  assert.equal(unknownTopic.stderr, unknownCommand.stderr);
  assert.match(unknownTopic.stderr, /^wsgate: unknown command "nope"$/m);
  const helpHelp = await runCli(['help', 'help']);
  assert.equal(helpHelp.code, 0, helpHelp.stderr);
  assert.match(helpHelp.stdout, /^Usage: wsgate \[command\]/);
});

test('unknown commands and options are usage errors, exit 2', async () => {
  const unknown = await runCli(['frobnicate']);
  assert.equal(unknown.code, 2);
  assert.match(unknown.stderr, /unknown command "frobnicate"/);
  const badOption = await runCli(['check', '--nope']);
  assert.equal(badOption.code, 2);
  assert.match(badOption.stderr, /check: .*--nope/);
  // The hint points at that command's help, where its options are.
  assert.match(badOption.stderr, /^hint: Run `wsgate check --help` for its options\.$/m);
  const caUsage = await runCli(['ca', 'export', '--nope']);
  assert.match(caUsage.stderr, /^hint: Run `wsgate ca --help` for its options\.$/m);
  // `wsgate ca` alone does nothing: a usage error naming the subcommands, said as an unknown one is.
  const [caBare, caUnknown] = await Promise.all([runCli(['ca']), runCli(['ca', 'nope'])]);
  assert.equal(caBare.code, 2);
  assert.equal(caBare.stdout, '');
  assert.deepEqual(caBare.stderr.trimEnd().split('\n'), [
    'wsgate: ca: a subcommand is required: init, export or trust-help',
    'hint: Run `wsgate ca --help` for its options.',
  ]);
  assert.equal(caUnknown.code, 2);
  assert.deepEqual(caUnknown.stderr.trimEnd().split('\n'), [
    'wsgate: ca: unknown subcommand "nope"; use init, export or trust-help',
    'hint: Run `wsgate ca --help` for its options.',
  ]);
  const half = await runCli(['run', '--listen', '127.0.0.1:0']);
  assert.equal(half.code, 2);
  assert.match(half.stderr, /--listen and --upstream go together/);
  // A bad --upstream or --listen is said as the flag, not as a config key of a file nobody wrote.
  const badUpstream = await runCli(['run', '--listen', '127.0.0.1:0', '--upstream', 'ftp://x']);
  assert.equal(badUpstream.code, 2);
  assert.match(
    badUpstream.stderr,
    /^wsgate: run: --upstream ftp:\/\/x: expected a ws:\/\/, wss:\/\/, http:\/\/ or https:\/\/ URL$/m,
  );
  assert.doesNotMatch(badUpstream.stderr, /listeners\[|<command line>|wsgate check -c FILE/);
  const badListen = await runCli(['run', '--listen', 'nohost', '--upstream', 'ws://127.0.0.1:9']);
  assert.equal(badListen.code, 2);
  assert.match(badListen.stderr, /^wsgate: run: --listen nohost: invalid address "nohost": the port is missing/m);
  const badForward = await runCli(['run', '--forward', '127.0.0.1']);
  assert.equal(badForward.code, 2);
  assert.match(badForward.stderr, /^wsgate: run: --forward 127\.0\.0\.1: invalid address/m);
  // parseArgs's message spans lines: it is still about the flag, not the configuration.
  const dashValue = await runCli(['run', '--workers', '-1']);
  assert.equal(dashValue.code, 2);
  assert.match(dashValue.stderr, /^wsgate: run: Option '--workers' argument is ambiguous/);
  assert.doesNotMatch(dashValue.stderr, /invalid configuration/);
  const negative = await runCli(['run', '--workers=-1']);
  assert.equal(negative.code, 2);
  assert.match(negative.stderr, /^wsgate: run: --workers: expected a number of worker processes/);
});

test('a port in use: exit 1, said the same way by a listener, the admin API and the echo server', async (t) => {
  const holder = net.createServer();
  holder.listen(0, '127.0.0.1');
  await once(holder, 'listening');
  t.after(() => holder.close());
  const port = (holder.address() as net.AddressInfo).port;
  const runs = [
    ['run', '--forward', `127.0.0.1:${port}`],
    ['run', '--forward', '127.0.0.1:0', '--admin', `127.0.0.1:${port}`],
    ['echo', '--port', String(port)],
  ];
  for (const args of runs) {
    const r = await runCli(args, { timeoutMs: 20_000 });
    assert.equal(r.code, 1, `${args.join(' ')}: ${r.stderr}`);
    assert.match(
      r.stderr,
      new RegExp(`^wsgate: cannot listen on 127\\.0\\.0\\.1:${port}: EADDRINUSE$`, 'm'),
      args.join(' '),
    );
    assert.match(r.stderr, new RegExp(`^hint: Another process holds port ${port} here`, 'm'), args.join(' '));
  }
});

test('a bind to a host name that does not resolve: exit 1, its own hint, not the port-in-use one', async (t) => {
  // A 64-character label is no DNS name: the resolver refuses it without asking a name server.
  const host = `${'a'.repeat(64)}.test`;
  const dir = mkdtempSync(join(tmpdir(), 'wsgate-bind-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'wsgate.yaml');
  writeFileSync(file, `listeners:\n  - bind: ${host}:0\n    routes: [{ upstream: "ws://127.0.0.1:1" }]\n`);
  for (const args of [
    ['run', '-c', file],
    ['echo', '--host', host, '--port', '0'],
  ]) {
    const r = await runCli(args, { timeoutMs: 20_000 });
    assert.equal(r.code, 1, `${args.join(' ')}: ${r.stderr}`);
    assert.deepEqual(r.stderr.trimEnd().split('\n'), [
      `wsgate: cannot listen on ${host}:0: ENOTFOUND`,
      `hint: The host name ${host} does not resolve here: bind an IP address (127.0.0.1 for this machine alone, 0.0.0.0 or :: for every interface) or a name this machine resolves, such as localhost.`,
    ]);
  }
});

test('check prints the resolved default config and exits 0', async () => {
  const r = await runCli(['check', '-c', 'config/wsgate.yaml']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /is valid/);
  assert.match(r.stdout, /ws:\/\/127\.0\.0\.1:9998/);
});

test('check -H without --explain is a usage error, not a header silently unused', async () => {
  const r = await runCli(['check', '-c', 'config/wsgate.yaml', '-H', 'x-canary: 1']);
  assert.equal(r.code, 2);
  assert.equal(r.stdout, '');
  assert.match(
    r.stderr,
    /^wsgate: check: -H\/--header goes with --explain URL: the headers of the request it explains$/m,
  );
});

test('check --explain names the route a URL would take', async () => {
  const r = await runCli(['check', '-c', 'config/wsgate.yaml', '--explain', 'http://127.0.0.1:8080/echo']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /web: .*echo.* → ws:\/\/127\.0\.0\.1:9998/);
});

test('a bad config is reported with file:line:col and key, exit 2, for check and for run', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'wsgate-cli-'));
  const file = join(dir, 'bad.yaml');
  writeFileSync(
    file,
    [
      'listeners:',
      '  - name: web',
      '    bind: 127.0.0.1:0',
      '    routes:',
      '      - match: { path: /x }',
      '        upstream: ftp://nope',
      '        upstrem: ws://typo',
      '',
    ].join('\n'),
  );
  for (const command of ['check', 'run']) {
    const r = await runCli([command, '-c', file]);
    assert.equal(r.code, 2, `${command}: ${r.stderr}`);
    assert.match(
      r.stderr,
      new RegExp(`${file.replace(/[.]/g, '\\.')}:6:19 listeners\\[0\\]\\.routes\\[0\\]\\.upstream: `),
    );
    assert.match(r.stderr, /:7:9 listeners\[0\]\.routes\[0\]\.upstrem: .*did you mean "upstream"/);
    assert.doesNotMatch(r.stderr, /listening/);
  }
  // check prints exactly what README.md shows; its hint to run `wsgate check -c FILE` is for run only.
  const checked = await runCli(['check', '-c', file]);
  assert.deepEqual(checked.stderr.trimEnd().split('\n'), [
    'wsgate: invalid configuration',
    `${file}:6:19 listeners[0].routes[0].upstream: expected a ws://, wss://, http:// or https:// URL`,
    `${file}:7:9 listeners[0].routes[0].upstrem: unknown key "upstrem"; did you mean "upstream"?`,
  ]);
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  for (const line of checked.stderr.trimEnd().split('\n'))
    assert.ok(readme.includes(line.replace(file, 'bad.yaml')), line);
  // run's hint is the command to paste: this file, not a FILE to fill in.
  const ran = await runCli(['run', '-c', file]);
  assert.ok(
    ran.stderr.includes(`\nhint: Fix the listed keys; \`wsgate check -c ${file}\` validates without starting.\n`),
    ran.stderr,
  );
});

test('check and run without -c where there is no config/wsgate.yaml: a usage error that says so, exit 2', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'wsgate-cli-nocfg-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  for (const command of ['check', 'run']) {
    const r = await runCli([command], { cwd: dir });
    assert.equal(r.code, 2, r.stderr);
    assert.match(
      r.stderr,
      new RegExp(`^wsgate: ${command}: no config file given and config/wsgate\\.yaml does not exist here; use -c FILE`),
    );
  }
});

test('a missing config file is exit 2 naming the file', async () => {
  const r = await runCli(['check', '-c', '/nonexistent/wsgate.yaml']);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /\/nonexistent\/wsgate\.yaml/);
});

test('check never prints passwords, and --explain covers forward listeners', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'wsgate-check-'));
  const file = join(dir, 'fwd.yaml');
  writeFileSync(
    file,
    [
      'listeners:',
      '  - name: proxy',
      '    bind: 127.0.0.1:0',
      '    forward:',
      '      auth: { users: [{ name: dev, password: hunter2 }] }',
      '      via: corp',
      'proxies:',
      '  - { name: corp, url: "http://alice:s3cret@127.0.0.1:3128" }',
      '',
    ].join('\n'),
  );
  const r = await runCli(['check', '-c', file]);
  assert.equal(r.code, 0, r.stderr);
  assert.doesNotMatch(r.stdout, /hunter2|s3cret/);
  assert.match(r.stdout, /alice:\[redacted\]@127\.0\.0\.1:3128/);
  const explain = await runCli(['check', '-c', file, '--explain', 'http://127.0.0.1:22/']);
  assert.match(explain.stdout, /proxy: forward proxy: .*127\.0\.0\.1:22 is refused with 403 \(port/);
});

test('a reader that stops early (check --explain | head) ends the output quietly: exit 0, no stack trace', async () => {
  const child = spawn(
    process.execPath,
    [CLI, 'check', '-c', 'config/wsgate.yaml', '--explain', 'ws://127.0.0.1:8080/echo'],
    {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  // Closed before wsgate writes: its first write fails with EPIPE, as when `head` has had its lines.
  child.stdout.destroy();
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => {
    stderr += d.toString();
  });
  const [code] = (await once(child, 'exit')) as [number | null];
  assert.equal(stderr, '');
  assert.equal(code, 0);
});

test('check --explain with an IPv6 URL: the route to an [::1] upstream, and the forward verdict on [::1]:port', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'wsgate-check-'));
  const file = join(dir, 'v6.yaml');
  writeFileSync(
    file,
    [
      'listeners:',
      '  - name: app',
      '    bind: "[::1]:8080"',
      '    routes:',
      '      - { match: { host: "[::1]", pathPrefix: /x }, upstream: "ws://[::1]:9000" }',
      '  - name: proxy',
      '    bind: "[::1]:8081"',
      '    forward: { allowHosts: ["::1"], allowPorts: [9000] }',
      '',
    ].join('\n'),
  );
  const explain = await runCli(['check', '-c', file, '--explain', 'ws://[::1]:8080/x']);
  assert.equal(explain.code, 0, explain.stderr);
  assert.match(
    explain.stdout,
    /^app: route "app\/route-0": host is "\[::1\]" and path starts with "\/x" → ws:\/\/\[::1\]:9000$/m,
  );
  // The authority as every message writes it (RFC 3986 §3.2.2): "::1:8080" reads as an address without a port.
  assert.match(
    explain.stdout,
    /^proxy: forward proxy: absolute-form request to \[::1\]:8080 is refused with 403 \(port/m,
  );
  // A Host given with -H is compared as a request's is: the route's [::1] in any spelling of the address.
  const spelled = await runCli([
    'check',
    '-c',
    file,
    '--explain',
    'ws://[::1]:8080/x',
    '-H',
    'Host: [0:0:0:0:0:0:0:1]:8080',
  ]);
  assert.equal(spelled.code, 0, spelled.stderr);
  assert.match(spelled.stdout, /^app: route "app\/route-0": host is "\[::1\]" and path starts with "\/x"/m);
  const allowed = await runCli(['check', '-c', file, '--explain', 'wss://[::1]:9000/']);
  assert.match(allowed.stdout, /^proxy: forward proxy: CONNECT tunnel to \[::1\]:9000 is allowed/m);
});

test("check --explain calls a URL at the forward listener's own address a loop (508), as wsgate answers it", async () => {
  const dir = mkdtempSync(join(tmpdir(), 'wsgate-check-'));
  const file = join(dir, 'self.yaml');
  writeFileSync(file, ['listeners:', '  - name: proxy', '    bind: 127.0.0.1:18888', '    forward: {}', ''].join('\n'));
  for (const url of ['http://127.0.0.1:18888/', 'https://127.0.0.1:18888/', 'ws://localhost:18888/x']) {
    const explain = await runCli(['check', '-c', file, '--explain', url]);
    assert.equal(explain.code, 0, explain.stderr);
    assert.match(
      explain.stdout,
      /^proxy: forward proxy: .* to (127\.0\.0\.1|localhost):18888 is refused with 508 \(request loop: .*this proxy listener itself\)$/m,
      url,
    );
  }
  const other = await runCli(['check', '-c', file, '--explain', 'http://127.0.0.1:18889/']);
  assert.match(other.stdout, /^proxy: forward proxy: absolute-form request to 127\.0\.0\.1:18889 is allowed/m);
});
