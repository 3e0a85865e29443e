// Loop detection by address: does a dialed address reach the forward listener itself?
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isSelf } from '../../../src/forward/dial.ts';

test('the listener’s own address and port, any loopback address when it listens on all interfaces, and the unspecified address', () => {
  const cases: [{ host: string; port: number } | undefined, string, number, boolean][] = [
    [{ host: '127.0.0.1', port: 8888 }, '127.0.0.1', 8888, true],
    [{ host: '127.0.0.1', port: 8888 }, '127.0.0.1', 8889, false],
    [{ host: '127.0.0.1', port: 8888 }, '127.0.0.2', 8888, false],
    [{ host: '::1', port: 8888 }, '0:0::1', 8888, true],
    [{ host: '0.0.0.0', port: 8888 }, '127.0.0.1', 8888, true],
    [{ host: '0.0.0.0', port: 8888 }, '0.0.0.0', 8888, true],
    [{ host: '::', port: 8888 }, '::1', 8888, true],
    [{ host: '0.0.0.0', port: 8888 }, '203.0.113.9', 8888, false],
    // A connection to the unspecified address goes to its family's loopback address (0.0.0.0 → 127.0.0.1).
    [{ host: '127.0.0.1', port: 8888 }, '0.0.0.0', 8888, true],
    [{ host: '::1', port: 8888 }, '::', 8888, true],
    [{ host: '127.0.0.1', port: 8888 }, '::', 8888, false],
    [{ host: '::1', port: 8888 }, '0.0.0.0', 8888, false],
    [{ host: '127.0.0.2', port: 8888 }, '0.0.0.0', 8888, false],
    [undefined, '127.0.0.1', 8888, false],
  ];
  for (const [self, address, port, want] of cases) {
    assert.equal(isSelf(self, address, port), want, `${JSON.stringify(self)} vs ${address}:${port}`);
  }
});
