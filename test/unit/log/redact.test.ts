import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createLineRedactor, redactPairs, redactSubprotocolList } from '../../../src/log/redact.ts';

const K8S = 'base64url.bearer.authorization.k8s.io.ZXlKaGJHY2lPaUpTVXpJMU5pSjkuZXlK';

test('subprotocol lists: token-shaped values and configured prefixes are hidden, names kept', () => {
  const prefixes = ['base64url.bearer.authorization.k8s.io.', 'bearer.'];
  assert.equal(
    redactSubprotocolList(`${K8S}, base64.binary.k8s.io`, prefixes),
    'base64url.bearer.authorization.k8s.io.[redacted], base64.binary.k8s.io',
  );
  assert.equal(redactSubprotocolList('chat,bearer.short1', prefixes), 'chat,bearer.[redacted]');
  assert.equal(redactSubprotocolList('eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.x', []), '[redacted]');
  assert.equal(redactSubprotocolList('graphql-transport-ws', prefixes), 'graphql-transport-ws');
  assert.equal(redactSubprotocolList('bearer.', prefixes), 'bearer.', 'a prefix alone carries nothing');
});

test('the line pass: URLs and protocol fields of a JSON line, in pairs, objects and fields', () => {
  const redact = createLineRedactor({})!;
  const line = JSON.stringify({
    url: 'http://u:pw@h/x?token=t',
    protocol: K8S,
    offeredProtocol: `chat,${K8S}`,
    request: [['Sec-WebSocket-Protocol', `${K8S}, chat`]],
    headers: { 'sec-websocket-protocol': K8S },
    msg: 'GET http://u:pw@h/x?token=t',
  });
  const out = JSON.parse(redact(line)) as Record<string, unknown>;
  assert.deepEqual(out, {
    url: 'http://u:[redacted]@h/x?token=[redacted]',
    protocol: 'base64url.bearer.authorization.k8s.io.[redacted]',
    offeredProtocol: 'chat,base64url.bearer.authorization.k8s.io.[redacted]',
    request: [['Sec-WebSocket-Protocol', 'base64url.bearer.authorization.k8s.io.[redacted], chat']],
    headers: { 'sec-websocket-protocol': 'base64url.bearer.authorization.k8s.io.[redacted]' },
    msg: 'GET http://u:[redacted]@h/x?token=[redacted]',
  });
  const frame =
    '{"level":"info","event":"ws.frame","dir":"toUpstream","opcode":"text","length":5,"msg":"→ frame text 5 B"}';
  assert.equal(redact(frame), frame, 'a line with nothing to hide is returned as it is');
});

test('the line pass follows the settings: query names, subprotocols off, showSecrets', () => {
  const line = JSON.stringify({ path: '/x?session=s&token=t', protocol: K8S });
  assert.equal(
    createLineRedactor({ redactQueryParams: ['session'], redactSubprotocols: false })!(line),
    JSON.stringify({ path: '/x?session=[redacted]&token=t', protocol: K8S }),
  );
  assert.equal(createLineRedactor({ showSecrets: true }), undefined);
});

test('header lists for logs: secrets hidden, values read as latin1 shown as the UTF-8 they spell', () => {
  // node:http gives the bytes of "café" (c3 a9 at the end) as "cafÃ©"; "caf\xe9" is not UTF-8 and stays as is.
  const received: [string, string][] = [
    ['X-Name', Buffer.from('café', 'utf8').toString('latin1')],
    ['X-Latin', 'caf\u00e9'],
    ['Cookie', Buffer.from('sé=1', 'utf8').toString('latin1')],
    ['Host', 'a.test'],
  ];
  assert.deepEqual(redactPairs(received), [
    ['X-Name', 'café'],
    ['X-Latin', 'caf\u00e9'],
    ['Cookie', '[redacted]'],
    ['Host', 'a.test'],
  ]);
  assert.deepEqual(redactPairs(received, true)[2], ['Cookie', 'sé=1']);
  // Nothing to change: the same pairs in a new list.
  const plain: [string, string][] = [['Host', 'a.test']];
  const shown = redactPairs(plain);
  assert.deepEqual(shown, plain);
  assert.notEqual(shown, plain);
});
