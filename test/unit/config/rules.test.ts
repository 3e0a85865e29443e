// The config side of rules: a rule list that validates, errors with file:line:col and a did-you-mean, and the
// resolution routes and listeners get (effective rule names, keepalive, relay, forward profile).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { loadConfigText } from '../../../src/config/load.ts';
import { PROFILE_NAMES } from '../../../src/config/shape-rules.ts';
import { PROFILES } from '../../../src/rules/profiles.ts';
import { configWithRules } from '../rules/helpers.ts';
import { failLines } from './helpers.ts';

const load = (text: string) => loadConfigText(text, 'c.yaml', {});
const lines = (rulesYaml: string) => failLines(() => load(configWithRules(rulesYaml)));

test('bad rules are config errors at their position, with a did-you-mean where one fits', () => {
  const cases: [string, string][] = [
    [
      '- name: r\n  actions: [{ replce: { pattern: a, with: b } }]',
      'c.yaml:7:17 rules[0].actions[0].replce: unknown key "replce"; did you mean "replace"?',
    ],
    [
      '- name: r\n  actions: [{ hold: { onTimeout: later } }]',
      'c.yaml:7:36 rules[0].actions[0].hold.onTimeout: expected one of "forward", "drop"; got the string "later"',
    ],
    [
      '- name: r\n  actions: [{ hold: false }]',
      'c.yaml:7:23 rules[0].actions[0].hold: write hold: true (leave the action out to turn it off)',
    ],
    [
      '- name: r\n  match: { txet: a }\n  actions: [{ drop: true }]',
      'c.yaml:7:14 rules[0].match.txet: unknown key "txet"; did you mean "text"?',
    ],
    [
      "- name: r\n  match: { text: '/(/' }\n  actions: [{ drop: true }]",
      'c.yaml:7:20 rules[0].match.text: invalid regular expression "/(/": Unterminated group',
    ],
    [
      "- name: r\n  match: { text: '/a/g' }\n  actions: [{ drop: true }]",
      'c.yaml:7:20 rules[0].match.text: regex flags "g" and "y" are not allowed in a matcher (they make matching stateful)',
    ],
    [
      "- name: r\n  actions: [{ replace: { pattern: '/[/g', with: x } }]",
      'c.yaml:7:37 rules[0].actions[0].replace.pattern: invalid regular expression "/[/g": Unterminated character class',
    ],
    [
      '- name: r\n  actions: [{ deleteJson: a/b }]',
      'c.yaml:7:29 rules[0].actions[0].deleteJson: invalid JSON pointer "a/b": it starts with "/" (e.g. "/user/name"), or is "" for the whole document',
    ],
    [
      '- name: r\n  match: { json: { pointer: "/a~2" } }\n  actions: [{ drop: true }]',
      'c.yaml:7:31 rules[0].match.json.pointer: invalid JSON pointer "/a~2": "~" must be written "~0", and "/" inside a key "~1"',
    ],
    [
      '- name: r\n  match: { binaryPrefix: "1f8" }\n  actions: [{ drop: true }]',
      'c.yaml:7:28 rules[0].match.binaryPrefix: invalid hex "1f8": an odd number of digits (two per byte)',
    ],
    [
      '- name: r\n  match: { binaryPrefix: zz }\n  actions: [{ drop: true }]',
      'c.yaml:7:28 rules[0].match.binaryPrefix: invalid hex "zz": only 0-9 and a-f (spaces and ":" allowed)',
    ],
    [
      '- name: r\n  actions: [{ drop: true, delay: 1s }]',
      'c.yaml:7:29 rules[0].actions[0].delay: one action per list item: put "drop" and "delay" in separate items',
    ],
    [
      '- name: r\n  actions: [{}]',
      'c.yaml:7:15 rules[0].actions[0]: an action is a mapping with one key, e.g. { drop: true }; the keys are replace, setJson, deleteJson, drop, delay, inject, close, mark, hold, stripUpgrade, rejectConnect, rejectUpgrade, untrustedCert, stripExtensions, idleCut, maxLifetime, throttle, latency, buffer, halfOpen, resetAfter, dropEvery, duplicate, reorder, refragment, swallowPings, swallowPongs',
    ],
    [
      '- name: r\n  actions: [{ close: { code: 1005 } }]',
      'c.yaml:7:32 rules[0].actions[0].close.code: a close code on the wire is 1000-1003, 1007-1014 or 3000-4999 (RFC 6455 §7.4)',
    ],
    [
      '- name: r\n  actions: [{ inject: { to: client } }]',
      'c.yaml:7:25 rules[0].actions[0].inject: an inject needs exactly one of text or binary',
    ],
    [
      '- name: r\n  actions: [{ delay: 5 }]',
      'c.yaml:7:24 rules[0].actions[0].delay: a duration needs a unit: write "5ms" or "5s" (only 0 may be written without one)',
    ],
    [
      '- name: r\n  actions: [{ rejectConnect: 404 }]',
      'c.yaml:7:32 rules[0].actions[0].rejectConnect: expected 403 (Forbidden) or 407 (Proxy Authentication Required)',
    ],
    [
      '- name: r\n  match: { type: txt }\n  actions: [{ drop: true }]',
      'c.yaml:7:20 rules[0].match.type: expected one of "text", "binary", "ping", "pong", "close"; got the string "txt"; did you mean "text"?',
    ],
    [
      '- name: r\n  match: { probability: 2 }\n  actions: [{ drop: true }]',
      'c.yaml:7:27 rules[0].match.probability: a probability is from 0 to 1',
    ],
    ['- name: r\n  actions: []', 'c.yaml:7:14 rules[0].actions: list at least one action'],
    [
      '- name: r\n  actions: [{ drop: true }]\n- name: r\n  actions: [{ drop: true }]',
      'c.yaml:8:11 rules[1].name: duplicate rule name "r" (also rules[0])',
    ],
  ];
  const wrong = cases
    .map(([rules, expected]) => ({ rules, expected, got: lines(rules) }))
    .filter((c) => c.got.length !== 1 || c.got[0] !== c.expected);
  assert.deepEqual(wrong, []);
});

const ROUTED = `listeners:
  - name: web
    bind: 127.0.0.1:0
    rules: [base]
    keepalive: 25s
    relay: { deflate: keep }
    routes:
      - name: chat
        upstream: ws://127.0.0.1:9998
        rules: [slow-typing, base]
        keepalive: { interval: 10s, to: server }
      - name: plain
        upstream: ws://127.0.0.1:9998
        keepalive: 0
        relay: { deflate: strip }
  - name: proxy
    bind: 127.0.0.1:0
    rules: [base]
    forward: { profile: squid-default }
rules:
  - name: base
    actions: [{ mark: seen }]
  - name: slow-typing
    actions: [{ delay: 500ms }]
`;

test('routes get the effective rules, keepalive and relay; a forward profile is a rules entry', () => {
  const config = load(ROUTED);
  const [web, proxy] = config.listeners;
  assert.deepEqual(web?.rules, ['base']);
  assert.deepEqual(web?.keepalive, { intervalMs: 25_000, to: 'both' });
  assert.deepEqual(web?.relay, { deflate: 'keep' });
  const [chat, plain] = web?.routes ?? [];
  assert.deepEqual(chat?.rules, ['base', 'slow-typing']);
  assert.deepEqual(chat?.keepalive, { intervalMs: 10_000, to: 'server' });
  assert.deepEqual(chat?.relay, { deflate: 'keep' });
  assert.deepEqual(plain?.rules, ['base']);
  assert.equal(plain?.keepalive, undefined, 'keepalive: 0 turns the listener’s off');
  assert.deepEqual(plain?.relay, { deflate: 'strip' });
  assert.deepEqual(proxy?.rules, ['profile:squid-default', 'base']);
  assert.equal(proxy?.forward?.profile, 'squid-default');
  assert.equal(config.rules.length, 2);
});

test('unknown rule names and profiles are errors with a did-you-mean', () => {
  const bad = ROUTED.replace('rules: [slow-typing, base]', 'rules: [slow-typign, base]')
    .replace('profile: squid-default', 'profile: squid-defualt')
    .replace('keepalive: 25s', 'keepalive: { interval: 25s, to: upstream }');
  assert.deepEqual(
    failLines(() => load(bad)),
    [
      'c.yaml:5:16 listeners[0].keepalive: keepalive.to is one of "client", "server", "both"; got "upstream"',
      'c.yaml:10:17 listeners[0].routes[0].rules[0]: unknown rule "slow-typign"; did you mean "slow-typing"?',
      'c.yaml:19:25 listeners[1].forward.profile: expected one of "squid-default", "auth-407", "ssl-inspect", "idle-cut-60s", "buffering-proxy", "strip-extensions"; got the string "squid-defualt"; did you mean "squid-default"?',
    ],
  );
  const none =
    'listeners:\n  - bind: 127.0.0.1:0\n    rules: [x]\n    routes:\n      - upstream: ws://127.0.0.1:9998\n';
  assert.deepEqual(
    failLines(() => load(none)),
    ['c.yaml:3:13 listeners[0].rules[0]: unknown rule "x"; no rules are defined (add them under the top-level rules:)'],
  );
});

test('a forward-only fault on a rule that can only apply to reverse routes is an error at the fault', () => {
  const config = (routeRules: string, proxyRules: string, match = '') => `listeners:
  - name: web
    bind: 127.0.0.1:0
    routes:
      - name: chat
        upstream: ws://127.0.0.1:9998
        rules: [${routeRules}]
  - name: proxy
    bind: 127.0.0.1:0
    rules: [${proxyRules}]
    forward: {}
rules:
  - name: deny
${match}    actions: [{ rejectConnect: 407 }, { untrustedCert: true }, { idleCut: 1s }]
`;
  assert.deepEqual(
    failLines(() => load(config('deny', ''))),
    [
      'c.yaml:14:32 rules[0].actions[0].rejectConnect: rejectConnect acts only on a forward listener\'s CONNECT and absolute-form requests, and rule "deny" is named only by reverse routes (listeners[0].routes[0].rules): it would never act; name the rule in a forward listener\'s rules, or remove rejectConnect',
      'c.yaml:14:56 rules[0].actions[1].untrustedCert: untrustedCert acts only on a forward listener\'s CONNECT tunnels, and rule "deny" is named only by reverse routes (listeners[0].routes[0].rules): it would never act; name the rule in a forward listener\'s rules, or remove untrustedCert',
    ],
  );
  // Named by a forward listener, but its match can only hold on another listener or a reverse route.
  for (const match of [
    '    match: { listener: web }\n',
    '    match: [{ route: chat }, { listener: proxy, route: web/forward }]\n',
  ]) {
    const lines = failLines(() => load(config('', 'deny', match)));
    assert.equal(lines.length, 2, lines.join('\n'));
    assert.match(
      lines[0]!,
      /rejectConnect: .*rule "deny"'s match \(listener, route\) holds for no connection of forward listener "proxy"/,
    );
  }
  // Certain only: a forward listener names it (with no match, or one that may hold there), or nobody does.
  for (const [route, proxy, match] of [
    ['deny', 'deny', ''],
    ['', 'deny', '    match: { route: proxy/tunnel }\n'],
    ['', 'deny', '    match: [{ listener: web }, { path: /x }]\n'],
    ['', '', ''],
  ] as const) {
    assert.doesNotThrow(() => load(config(route, proxy, match)), `${route} | ${proxy} | ${match}`);
  }
});

test('the profile names the config accepts are the profiles rules/profiles.ts defines', () => {
  assert.deepEqual([...PROFILE_NAMES].sort(), Object.keys(PROFILES).sort());
});

test('every action and matcher in one valid config', () => {
  const config = load(
    configWithRules(`
- name: everything
  description: a bit of everything
  live: true
  seed: 7
  probability: 0.5
  match:
    - { host: "*.example.com", pathPrefix: /socket, route: chat, listener: web, port: [443, "8000-8999"] }
    - direction: toClient
      type: [text, binary]
      text: '/typ(ing)?/i'
      json: { pointer: /a/0, regex: x }
      binaryPrefix: "00 01"
      size: { min: 0, max: 1MiB }
      every: 2
      probability: 0.25
  actions:
    - replace: { pattern: '/a/g', with: b }
    - setJson: { pointer: /x, value: [1, { y: null }] }
    - deleteJson: /z
    - drop: true
    - delay: 500ms
    - inject: { to: client, text: hi, on: open, every: 5s }
    - close: { code: 4001, reason: bye, to: server }
    - mark: tag
    - hold: { timeout: 10s, onTimeout: drop }
    - stripUpgrade: true
    - rejectConnect: { status: 403, exceptPorts: [443] }
    - rejectUpgrade: 426
    - untrustedCert: true
    - stripExtensions: true
    - idleCut: 60s
    - maxLifetime: 5m
    - throttle: { toServer: 10KiB, toClient: 1000 }
    - latency: 200ms
    - buffer: 500ms
    - halfOpen: { direction: toServer, after: 2s }
    - resetAfter: 10
    - dropEvery: 3
    - duplicate: true
    - reorder: { window: 4 }
    - refragment: 3
    - swallowPings: true
    - swallowPongs: true
`),
  );
  const rule = config.rules[0];
  assert.equal(rule?.actions.length, 27);
  assert.equal(rule?.match.length, 2);
  assert.equal(rule?.match[1]?.binaryPrefix, '0001');
  assert.deepEqual(rule?.match[0]?.port, [
    { from: 443, to: 443 },
    { from: 8000, to: 8999 },
  ]);
});
