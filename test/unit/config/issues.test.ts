// Every kind of config issue, each with its exact file:line:col and path, and all of them reported at once.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { configFromObject, formatConfigIssue, loadConfigText } from '../../../src/config/load.ts';
import { failLines, failure } from './helpers.ts';

const load = (text: string) => () => loadConfigText(text, 'c.yaml', {});

/** A valid config with `routes` spliced in, so each test shows only what it breaks. */
const withRoutes = (routes: string, extra = '') =>
  `listeners:\n  - name: web\n    bind: 127.0.0.1:0\n    routes:\n${routes}${extra}`;

test('a bad upstream URL is reported at its value', () => {
  const text = withRoutes('      - upstream: ws://a:1\n      - upstream: ftp://example.com\n');
  assert.deepEqual(failLines(load(text)), [
    'c.yaml:6:19 listeners[0].routes[1].upstream: expected a ws://, wss://, http:// or https:// URL',
  ]);
});

test('an unbracketed IPv6 host is told to go in brackets, in every key that takes a URL or an address', () => {
  const text = `listeners:
  - name: web
    bind: "::1:8080"
    routes:
      - upstream: ws://::1:9000
      - match: { host: "::1" }
        upstream: app
upstreams:
  - { name: app, url: "wss://fe80::1/chat" }
  - name: pool
    servers: ["ws://2001:db8::7:9000", { url: "ws://user:secret@::1:9001" }]
proxies:
  - { name: corp, url: "http://user:secret@::1:3128" }
`;
  assert.deepEqual(failLines(load(text)), [
    'c.yaml:3:11 listeners[0].bind: invalid address "::1:8080": write an IPv6 address in brackets, e.g. "[::1]:8080"',
    'c.yaml:5:19 listeners[0].routes[0].upstream: the host "::1:9000" is not bracketed: IPv6 addresses go in brackets, e.g. ws://[::1]:9000',
    'c.yaml:6:24 listeners[0].routes[1].match.host: invalid host "::1": IPv6 addresses go in brackets, e.g. "[::1]"',
    'c.yaml:9:23 upstreams[0].url: the host "fe80::1" is not bracketed: IPv6 addresses go in brackets, e.g. wss://[fe80::1]',
    'c.yaml:11:15 upstreams[1].servers[0]: the host "2001:db8::7:9000" is not bracketed: IPv6 addresses go in brackets, e.g. ws://[2001:db8::7]:9000',
    'c.yaml:11:40 upstreams[1].servers[1]: the host "::1:9001" is not bracketed: IPv6 addresses go in brackets, e.g. ws://[::1]:9001',
    'c.yaml:13:24 proxies[0].url: invalid proxy URL "http://***@::1:3128": the host "::1:3128" is not bracketed: IPv6 addresses go in brackets, e.g. http://[::1]:3128',
  ]);
  const { err } = failure(load(text));
  assert.equal(err.code, 'WSG_CONFIG_INVALID');
  assert.doesNotMatch(err.message, /secret/);
});

test('an unbracketed IPv6 origin or PAC URL is told to go in brackets: a browser never sends it, it never loads', () => {
  const text = `listeners:
  - name: web
    bind: 127.0.0.1:0
    routes:
      - upstream: ws://a:1
        allowOrigins: ["http://::1:3000", "https://fe80::1", "http://[::1]:3000"]
proxies:
  - { name: corp, pac: "http://::1:8080/wpad.dat" }
`;
  assert.deepEqual(failLines(load(text)), [
    'c.yaml:6:24 listeners[0].routes[0].allowOrigins[0]: invalid origin "http://::1:3000": the host "::1:3000" is not bracketed: IPv6 addresses go in brackets, e.g. http://[::1]:3000',
    'c.yaml:6:43 listeners[0].routes[0].allowOrigins[1]: invalid origin "https://fe80::1": the host "fe80::1" is not bracketed: IPv6 addresses go in brackets, e.g. https://[fe80::1]',
    'c.yaml:8:24 proxies[0].pac: the host "::1:8080" is not bracketed: IPv6 addresses go in brackets, e.g. http://[::1]:8080',
  ]);
});

test('a bracketed route host that is not an IPv6 address is refused, saying what goes in brackets', () => {
  const hosts = ['[:::::]', '[foo]', '[1::2::3]', '[1.2.3.4]', '[fe80::1%eth0]', '[0:0::1]', '[::FFFF:127.0.0.1]'];
  const text = withRoutes(hosts.map((h) => `      - { match: { host: "${h}" }, upstream: "ws://a:1" }\n`).join(''));
  const why = (h: string, inner: string) =>
    `invalid host "${h}": brackets hold an IPv6 address, and "${inner}" is not one; write e.g. "[::1]" or "[2001:db8::7]"`;
  assert.deepEqual(failLines(load(text)), [
    `c.yaml:5:26 listeners[0].routes[0].match.host: ${why('[:::::]', ':::::')}`,
    `c.yaml:6:26 listeners[0].routes[1].match.host: ${why('[foo]', 'foo')}`,
    `c.yaml:7:26 listeners[0].routes[2].match.host: ${why('[1::2::3]', '1::2::3')}`,
    'c.yaml:8:26 listeners[0].routes[3].match.host: invalid host "[1.2.3.4]": an IPv4 address goes without brackets: write "1.2.3.4"',
    `c.yaml:9:26 listeners[0].routes[4].match.host: ${why('[fe80::1%eth0]', 'fe80::1%eth0')} (a Host header carries no zone id)`,
  ]);
});

test('a bracketed forward host pattern that is not an IPv6 address is refused as a route host is', () => {
  const text = `listeners:
  - name: proxy
    bind: 127.0.0.1:0
    forward:
      allowHosts: ["[1.2.3.4]", "[::1]", "[foo]", "[10.0.0.0/8]", "[2001:db8::/32]"]
      denyHosts: ["[192.168.0.1]"]
      intercept: ["[fe80::1%eth0]"]
`;
  const why = (h: string, inner: string) =>
    `invalid host "${h}": brackets hold an IPv6 address, and "${inner}" is not one; write e.g. "[::1]" or "[2001:db8::7]"`;
  assert.deepEqual(failLines(load(text)), [
    'c.yaml:5:20 listeners[0].forward.allowHosts[0]: invalid host "[1.2.3.4]": an IPv4 address goes without brackets: write "1.2.3.4"',
    `c.yaml:5:42 listeners[0].forward.allowHosts[2]: ${why('[foo]', 'foo')}`,
    `c.yaml:5:51 listeners[0].forward.allowHosts[3]: ${why('[10.0.0.0/8]', '10.0.0.0/8')}`,
    'c.yaml:6:19 listeners[0].forward.denyHosts[0]: invalid host "[192.168.0.1]": an IPv4 address goes without brackets: write "192.168.0.1"',
    `c.yaml:7:19 listeners[0].forward.intercept[0]: ${why('[fe80::1%eth0]', 'fe80::1%eth0')} (a Host header carries no zone id)`,
  ]);
});

test('an origin no browser could send (a port out of range, a bad bracketed host) is refused, not kept to never match', () => {
  const text = withRoutes(
    '      - upstream: ws://a:1\n        allowOrigins: ["http://a.test:99999", "http://[foo]:1", "chrome-extension://abc"]\n',
  );
  assert.deepEqual(failLines(load(text)), [
    'c.yaml:6:24 listeners[0].routes[0].allowOrigins[0]: invalid origin "http://a.test:99999": not a URL a browser could send, e.g. "https://app.example.com" or "http://[::1]:3000"',
    'c.yaml:6:47 listeners[0].routes[0].allowOrigins[1]: invalid origin "http://[foo]:1": not a URL a browser could send, e.g. "https://app.example.com" or "http://[::1]:3000"',
  ]);
});

test("a route named like a forward listener's traffic is refused, at its name", () => {
  const text = withRoutes(
    '      - { name: web/forward, upstream: "ws://a:1" }\n      - { name: web/tunnel, upstream: "ws://a:1" }\n' +
      '      - { name: web/route-x, upstream: "ws://a:1" }\n      - { name: other/forward, upstream: "ws://a:1" }\n',
  );
  assert.deepEqual(failLines(load(text)), [
    'c.yaml:5:17 listeners[0].routes[0].name: route name "web/forward" is reserved: "<listener>/forward" names a forward listener\'s traffic in rules and the inspector; pick another name',
    'c.yaml:6:17 listeners[0].routes[1].name: route name "web/tunnel" is reserved: "<listener>/tunnel" names a forward listener\'s traffic in rules and the inspector; pick another name',
  ]);
  // The name of another listener's traffic is reserved as well.
  const two = `${withRoutes('      - { name: edge/tunnel, upstream: "ws://a:1" }\n')}  - name: edge\n    bind: 127.0.0.1:0\n    forward: {}\n`;
  assert.match(
    failLines(load(two))[0]!,
    /^c\.yaml:5:17 listeners\[0\]\.routes\[0\]\.name: route name "edge\/tunnel" is reserved/,
  );
});

test("a number out of range says the bound and the value, in the config's words", () => {
  const rule = (seed: string) =>
    withRoutes(
      '      - { upstream: "ws://a:1", rules: [r] }\n',
      `rules:\n  - name: r\n    seed: ${seed}\n    actions: [{ delay: 1ms }]\n`,
    );
  assert.deepEqual(failLines(load(rule('-1'))), ['c.yaml:8:11 rules[0].seed: must be at least 0; got -1']);
  assert.deepEqual(failLines(load(rule('4294967296'))), [
    'c.yaml:8:11 rules[0].seed: must be at most 4294967295; got 4294967296',
  ]);
});

test('an issue is one line in the message and a structured detail', () => {
  const { err, issues } = failure(load(withRoutes('      - upstream: nope://x\n')));
  assert.deepEqual(issues, [
    {
      file: 'c.yaml',
      line: 5,
      col: 19,
      path: 'listeners[0].routes[0].upstream',
      message: 'expected a ws://, wss://, http:// or https:// URL',
    },
  ]);
  assert.equal(err.message, issues.map(formatConfigIssue).join('\n'));
  assert.equal(err.params['detail'], err.message);
  assert.equal(err.exitCode, 2);
});

test('an unknown key points at the key itself, with a did-you-mean', () => {
  const text = withRoutes('      - name: a\n        upstrem: ws://a:1\n');
  assert.deepEqual(failLines(load(text)), [
    'c.yaml:5:9 listeners[0].routes[0].upstream: required key is missing',
    'c.yaml:6:9 listeners[0].routes[0].upstrem: unknown key "upstrem"; did you mean "upstream"?',
  ]);
});

test('unknown keys get a hint only when one is close, and each key is its own issue', () => {
  const text = withRoutes(
    '      - upstream: ws://a:1\n        match: { hots: a.test, colour: red }\n',
    'listners: 1\n',
  );
  assert.deepEqual(failLines(load(text)), [
    'c.yaml:6:18 listeners[0].routes[0].match.hots: unknown key "hots"; did you mean "host"?',
    'c.yaml:6:32 listeners[0].routes[0].match.colour: unknown key "colour"',
    'c.yaml:7:1 listners: unknown key "listners"; did you mean "listeners"?',
  ]);
});

test('a wrong type says what was expected and what was found', () => {
  assert.deepEqual(failLines(load('listeners: { name: web }\n')), [
    'c.yaml:1:12 listeners: expected a list, got a mapping',
  ]);
  const text = withRoutes('      - upstream: ws://a:1\n        changeOrigin: 1\n', 'log: { level: 3, file: [] }\n');
  assert.deepEqual(failLines(load(text)), [
    'c.yaml:6:23 listeners[0].routes[0].changeOrigin: expected true or false; got 1',
    'c.yaml:7:15 log.level: expected one of "fatal", "error", "warn", "info", "debug", "trace", "silent"; got number 3',
    'c.yaml:7:24 log.file: expected a string, got a list',
  ]);
});

test('an enum value close to a valid one gets a did-you-mean', () => {
  assert.deepEqual(failLines(load(withRoutes('      - upstream: ws://a:1\n', 'log: { level: warning }\n'))), [
    'c.yaml:6:15 log.level: expected one of "fatal", "error", "warn", "info", "debug", "trace", "silent"; got the string "warning"; did you mean "warn"?',
  ]);
});

test('a duplicate key is a YAML error at the second occurrence', () => {
  const text = 'listeners:\n  - bind: 127.0.0.1:0\n    bind: 127.0.0.1:1\n    routes: [{ upstream: "ws://a:1" }]\n';
  assert.deepEqual(failLines(load(text)), [
    'c.yaml:3:5 listeners[0].bind: duplicate key "bind": each key may appear only once',
  ]);
});

test('an unknown tag is refused, with the tag named', () => {
  const text = withRoutes('      - upstream: !!js/function "function () {}"\n');
  assert.deepEqual(failLines(load(text)), [
    'c.yaml:5:19 listeners[0].routes[0].upstream: unknown tag "!!js/function": only YAML\'s standard tags (such as !!str) are allowed',
  ]);
  assert.match(
    failLines(load(withRoutes('      - upstream: !custom x\n')))[0]!,
    /^c\.yaml:5:19 .*unknown tag "!custom"/,
  );
});

test('an alias bomb (10 levels of 10 aliases) is refused before it expands', () => {
  let text = 'a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n';
  for (let i = 1; i < 10; i++)
    text += `a${i}: &a${i} [${Array(10)
      .fill(`*a${i - 1}`)
      .join(', ')}]\n`;
  assert.deepEqual(failLines(load(text)), [
    'c.yaml:2:10 a1[0]: aliases expand to too many nodes (more than 100): refusing a possible "billion laughs" document',
  ]);
});

test('a few aliases are fine', () => {
  const text =
    'upstreams: [{ name: app, url: &u "ws://a:1" }]\nlisteners:\n  - bind: 127.0.0.1:0\n    routes: [{ upstream: *u }]\n';
  assert.equal(loadConfigText(text, 'c.yaml', {}).listeners[0]!.routes[0]!.upstream.url, 'ws://a:1');
});

test('an undefined alias is reported where it is used', () => {
  assert.deepEqual(failLines(load(withRoutes('      - upstream: *nope\n'))), [
    'c.yaml:5:19 listeners[0].routes[0].upstream: unknown alias "*nope": the anchor "&nope" must be defined before it',
  ]);
});

test('YAML syntax errors stop before validation and keep their position', () => {
  assert.deepEqual(failLines(load('listeners: [1, 2\nlog: {}\n')), [
    'c.yaml:2:1 log: Flow sequence in block collection must be sufficiently indented and end with a ]',
  ]);
  assert.match(failLines(load('a: 1\n---\nb: 2\n'))[0]!, /^c\.yaml:2:1 Source contains multiple documents/);
});

test('missing or empty listeners', () => {
  assert.deepEqual(failLines(load('upstreams: []\n')), ['c.yaml:1:1 listeners: required key is missing']);
  assert.deepEqual(failLines(load('listeners: []\n')), ['c.yaml:1:12 listeners: list at least one listener']);
  assert.deepEqual(failLines(load('')), ['c.yaml:1:1 the config is empty: it needs at least a listeners list']);
  assert.deepEqual(failLines(load('# nothing yet\n')), [
    'c.yaml:1:1 the config is empty: it needs at least a listeners list',
  ]);
  assert.deepEqual(failLines(load('- listeners\n')), ['c.yaml:1:1 expected a mapping, got a list']);
});

test('an unknown upstream name gets a did-you-mean, or the list of names', () => {
  const upstreams = 'upstreams:\n  - { name: chat, url: "ws://chat:1" }\n  - { name: api, url: "http://api:1" }\n';
  assert.deepEqual(failLines(load(withRoutes('      - upstream: chta\n', upstreams))), [
    'c.yaml:5:19 listeners[0].routes[0].upstream: unknown upstream "chta"; did you mean "chat"?',
  ]);
  assert.deepEqual(failLines(load(withRoutes('      - upstream: billing\n', upstreams))), [
    'c.yaml:5:19 listeners[0].routes[0].upstream: unknown upstream "billing"; defined upstreams: chat, api',
  ]);
  assert.deepEqual(failLines(load(withRoutes('      - upstream: billing\n'))), [
    'c.yaml:5:19 listeners[0].routes[0].upstream: unknown upstream "billing"; no upstreams are defined',
  ]);
  assert.deepEqual(failLines(load(withRoutes('      - upstream: localhost:9000\n'))), [
    'c.yaml:5:19 listeners[0].routes[0].upstream: unknown upstream "localhost:9000"; an inline upstream is a URL such as "ws://localhost:9000"',
  ]);
});

test('a header regex must compile and must not be stateful', () => {
  const text = withRoutes(
    '      - upstream: ws://a:1\n        match:\n          headers:\n            x-a: "/(unclosed/"\n            x-b: "/ok/g"\n            x-c: "/fine/i"\n',
  );
  assert.deepEqual(failLines(load(text)), [
    'c.yaml:8:18 listeners[0].routes[0].match.headers["x-a"]: invalid regular expression "/(unclosed/": Unterminated group',
    'c.yaml:9:18 listeners[0].routes[0].match.headers["x-b"]: regex flags "g" and "y" are not allowed (they make matching stateful)',
  ]);
});

test('path and pathPrefix together in one match object is an error', () => {
  const text = withRoutes('      - upstream: ws://a:1\n        match: [{ path: /a }, { path: /b, pathPrefix: /c }]\n');
  assert.deepEqual(failLines(load(text)), [
    'c.yaml:6:43 listeners[0].routes[0].match[1].pathPrefix: use either path or pathPrefix, not both',
  ]);
});

test('match values are checked', () => {
  const text = withRoutes(
    '      - upstream: ws://a:1\n        match: { host: "a.test:8080", path: echo, headers: { "bad name": x, X-A: 1, x-a: "2" } }\n',
  );
  assert.deepEqual(failLines(load(text)), [
    'c.yaml:6:24 listeners[0].routes[0].match.host: invalid host "a.test:8080": match the host name without a port',
    'c.yaml:6:45 listeners[0].routes[0].match.path: path must start with "/"',
    'c.yaml:6:62 listeners[0].routes[0].match.headers["bad name"]: invalid header name "bad name"',
    'c.yaml:6:82 listeners[0].routes[0].match.headers["X-A"]: expected a string (quote numbers, e.g. "1")',
    'c.yaml:6:85 listeners[0].routes[0].match.headers["x-a"]: header "x-a" is listed twice (as "X-A" too; header names are case-insensitive)',
  ]);
});

test('addresses, names, origins and limits are checked', () => {
  const text = `listeners:
  - name: web
    bind: localhost
    routes:
      - upstream: ws://a:1
        allowOrigins: ["*", https://app.test/, https://ok.test]
  - name: web
    bind: "[::1]:70000"
    routes: []
echo: { bind: "::1:80" }
limits: { idleTimeout: 30, maxHeaderBytes: 0 }
shutdown: { grace: 5 minutes }
`;
  assert.deepEqual(failLines(load(text)), [
    'c.yaml:3:11 listeners[0].bind: invalid address "localhost": the port is missing, e.g. "127.0.0.1:8080", "0.0.0.0:8080" or "[::1]:8080"',
    'c.yaml:6:24 listeners[0].routes[0].allowOrigins[0]: "*" is not allowed: list exact origins, or leave out allowOrigins to accept any origin',
    'c.yaml:6:29 listeners[0].routes[0].allowOrigins[1]: invalid origin "https://app.test/": an origin has no path; write "https://app.test"',
    'c.yaml:7:11 listeners[1].name: duplicate listener name "web" (also listeners[0])',
    'c.yaml:8:11 listeners[1].bind: invalid port "70000": expected a number from 0 to 65535 (0 picks a free port)',
    'c.yaml:9:13 listeners[1].routes: list at least one route',
    'c.yaml:10:15 echo.bind: invalid address "::1:80": write an IPv6 address in brackets, e.g. "[::1]:8080"',
    'c.yaml:11:24 limits.idleTimeout: a duration needs a unit: write "30ms" or "30s" (only 0 may be written without one)',
    'c.yaml:11:44 limits.maxHeaderBytes: must be at least 1 byte',
    'c.yaml:12:20 shutdown.grace: invalid duration "5 minutes": expected a number and a unit (ms, s, m or h), e.g. "500ms", "30s", "5m", or 0',
  ]);
});

test('several issues of different kinds are reported at once, in file order', () => {
  const text = `listeners:
  - name: web
    bind: \${WSGATE_NOPE}
    routes:
      - match: { path: /a, pathPrefix: /b }
        upstream: chta
      - upstream: ftp://x
        changeorigin: true
upstreams:
  - { name: chat, url: "ws://chat:1" }
limits: { connectTimeout: 10 }
`;
  assert.deepEqual(failLines(load(text)), [
    'c.yaml:3:11 listeners[0].bind: environment variable WSGATE_NOPE is not set',
    'c.yaml:5:28 listeners[0].routes[0].match.pathPrefix: use either path or pathPrefix, not both',
    'c.yaml:6:19 listeners[0].routes[0].upstream: unknown upstream "chta"; did you mean "chat"?',
    'c.yaml:7:19 listeners[0].routes[1].upstream: expected a ws://, wss://, http:// or https:// URL',
    'c.yaml:8:9 listeners[0].routes[1].changeorigin: unknown key "changeorigin"; did you mean "changeOrigin"?',
    'c.yaml:11:27 limits.connectTimeout: a duration needs a unit: write "10ms" or "10s" (only 0 may be written without one)',
  ]);
});

test('configs built in code report paths without positions', () => {
  const { lines, issues } = failure(() =>
    configFromObject({ listeners: [{ bind: '127.0.0.1', routes: [{ upstream: 'chat' }] }], extra: 1 }, '<test>'),
  );
  assert.deepEqual(lines, [
    '<test> listeners[0].bind: invalid address "127.0.0.1": the port is missing, e.g. "127.0.0.1:8080", "0.0.0.0:8080" or "[::1]:8080"',
    '<test> extra: unknown key "extra"',
    '<test> listeners[0].routes[0].upstream: unknown upstream "chat"; no upstreams are defined',
  ]);
  assert.equal(issues[0]!.line, 0);
  assert.deepEqual(
    failLines(() => configFromObject(undefined)),
    ['<command line> the config is empty: it needs at least a listeners list'],
  );
});

test('two servers on one address are refused at the later bind, naming the first; wildcards take every address', () => {
  const text = `listeners:
  - name: web
    bind: 0.0.0.0:8080
    routes: [{ upstream: "ws://a:1" }]
  - name: api
    bind: 127.0.0.1:8080
    routes: [{ upstream: "ws://a:1" }]
  - name: any
    bind: 127.0.0.1:0
    routes: [{ upstream: "ws://a:1" }]
  - name: other
    bind: 127.0.0.1:0
    forward: {}
inspector:
  bind: "[::]:9090"
  token: t
echo:
  bind: 127.0.0.2:9090
`;
  assert.deepEqual(failLines(load(text)), [
    'c.yaml:6:11 listeners[1].bind: 127.0.0.1:8080 is already taken by listener "web" (0.0.0.0:8080): each listener, the inspector and the echo server need an address of their own',
    'c.yaml:18:9 echo.bind: 127.0.0.2:9090 is already taken by the inspector ([::]:9090): each listener, the inspector and the echo server need an address of their own',
  ]);
  const same = withRoutes(
    '      - upstream: ws://a:1\n',
    'inspector: { bind: "127.0.0.1:0" }\necho: { bind: 127.0.0.1:7000 }\n',
  );
  assert.doesNotThrow(load(same), 'port 0 picks a port of its own each time');
  const clash = `listeners:\n  - name: web\n    bind: 127.0.0.1:7000\n    routes: [{ upstream: "ws://a:1" }]\necho: { bind: 127.0.0.1:7000 }\n`;
  assert.deepEqual(failLines(load(clash)), [
    'c.yaml:5:15 echo.bind: 127.0.0.1:7000 is already taken by listener "web": each listener, the inspector and the echo server need an address of their own',
  ]);
});

test('an IP address in a certificate’s serverNames is refused: SNI never carries one', () => {
  const input = {
    listeners: [
      {
        bind: '127.0.0.1:8443',
        tls: { certs: [{ cert: 'a.pem', key: 'a.key', serverNames: ['app.test', '10.0.0.1', '[::1]'] }] },
        routes: [{ upstream: 'ws://127.0.0.1:3000' }],
      },
    ],
  };
  const lines = failLines(() => configFromObject(input));
  assert.equal(lines.length, 2, lines.join('\n'));
  assert.match(
    lines[0]!,
    /listeners\[0\]\.tls\.certs\[0\]\.serverNames\[1\]: "10\.0\.0\.1" is an IP address, and SNI never carries one/,
  );
  assert.match(lines[1]!, /serverNames\[2\]: "\[::1\]" is an IP address/);
});
