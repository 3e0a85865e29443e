// listeners[].trustForwarded: a list of addresses and CIDR ranges, checked at load with file:line:col for each bad
// entry, resolved to [] when absent, and refused on forward listeners (which add no forwarding fields).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { loadConfigText } from '../../../src/config/load.ts';
import { failLines } from './helpers.ts';

const load = (text: string) => () => loadConfigText(text, 'c.yaml', {});

const reverse = (trust: string) =>
  `listeners:\n  - name: web\n    bind: 127.0.0.1:0\n    trustForwarded: ${trust}\n    routes:\n      - upstream: ws://a:1\n`;

test('valid addresses and ranges are kept as written; absent means trust no one', () => {
  const config = loadConfigText(
    reverse('[10.0.0.0/8, "192.0.2.7", "2001:db8::/32", "::ffff:192.0.2.0/120"]'),
    'c.yaml',
    {},
  );
  assert.deepEqual(config.listeners[0]!.trustForwarded, [
    '10.0.0.0/8',
    '192.0.2.7',
    '2001:db8::/32',
    '::ffff:192.0.2.0/120',
  ]);
  const none = loadConfigText(
    'listeners:\n  - bind: 127.0.0.1:0\n    routes:\n      - upstream: ws://a:1\n',
    'c.yaml',
    {},
  );
  assert.deepEqual(none.listeners[0]!.trustForwarded, []);
});

test('each bad entry is reported at its own line and column', () => {
  const text = reverse('\n      - 10.0.0.0/8\n      - 10.0.0.0/33\n      - example.com\n      - 10.1.2.3/8\n      - 7');
  assert.deepEqual(failLines(load(text)), [
    'c.yaml:6:9 listeners[0].trustForwarded[1]: "10.0.0.0/33": the prefix length of an IPv4 range is 0 to 32',
    'c.yaml:7:9 listeners[0].trustForwarded[2]: "example.com" is not an IP address or CIDR range (e.g. "10.0.0.0/8", "192.0.2.7" or "2001:db8::/32")',
    'c.yaml:8:9 listeners[0].trustForwarded[3]: "10.1.2.3/8" has bits set below its /8 prefix; did you mean "10.0.0.0/8"?',
    'c.yaml:9:9 listeners[0].trustForwarded[4]: expected an IP address or CIDR range; got 7',
  ]);
});

test('a forward listener does not take trustForwarded', () => {
  const text = 'listeners:\n  - bind: 127.0.0.1:0\n    trustForwarded: [10.0.0.0/8]\n    forward: {}\n';
  const [line] = failLines(load(text));
  assert.match(line ?? '', /^c\.yaml:3:21 listeners\[0\]\.trustForwarded: trustForwarded applies to reverse listeners/);
});
