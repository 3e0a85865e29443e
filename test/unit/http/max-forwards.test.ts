import assert from 'node:assert/strict';
import { test } from 'node:test';
import { maxForwardsStep, traceEcho } from '../../../src/http/max-forwards.ts';

test('maxForwardsStep: OPTIONS and TRACE only; 0 answers, more counts down, anything else goes on as received', () => {
  const table: [string, string | undefined, ReturnType<typeof maxForwardsStep>][] = [
    ['OPTIONS', '0', { kind: 'answer' }],
    ['TRACE', ' 00 ', { kind: 'answer' }],
    ['OPTIONS', '1', { kind: 'decrement', value: '0' }],
    ['TRACE', '10', { kind: 'decrement', value: '9' }],
    ['TRACE', '100000000000000000000000000000', { kind: 'decrement', value: '99999999999999999999999999999' }],
    ['OPTIONS', undefined, { kind: 'forward' }],
    ['OPTIONS', '', { kind: 'forward' }],
    ['OPTIONS', '-1', { kind: 'forward' }],
    ['OPTIONS', '1, 2', { kind: 'forward' }],
    ['TRACE', '0x1', { kind: 'forward' }],
    ['GET', '0', { kind: 'forward' }],
    ['options', '0', { kind: 'forward' }],
  ];
  for (const [method, value, expected] of table) {
    assert.deepEqual(maxForwardsStep(method, value), expected, `${method} ${JSON.stringify(value)}`);
  }
});

test('traceEcho: the request line and fields as received, without credentials and cookies', () => {
  assert.equal(
    traceEcho('TRACE', 'http://a.test/x', '1.1', [
      ['Host', 'a.test'],
      ['Cookie', 's=1'],
      ['AUTHORIZATION', 'Basic eA=='],
      ['Proxy-Authorization', 'Basic eQ=='],
      ['X-Trace', 'é'],
    ]),
    'TRACE http://a.test/x HTTP/1.1\r\nHost: a.test\r\nX-Trace: é\r\n\r\n',
  );
});
