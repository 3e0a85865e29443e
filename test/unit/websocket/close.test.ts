import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  CLOSE_CODE,
  encodeClosePayload,
  isValidCloseCode,
  MAX_CLOSE_REASON_BYTES,
  parseClosePayload,
} from '../../../src/websocket/close.ts';
import { fromHex } from './codec-helpers.ts';

describe('close codes (RFC 6455 §7.4)', () => {
  test('names', () => {
    assert.equal(CLOSE_CODE.NORMAL, 1000);
    assert.equal(CLOSE_CODE.GOING_AWAY, 1001);
    assert.equal(CLOSE_CODE.PROTOCOL_ERROR, 1002);
    assert.equal(CLOSE_CODE.INVALID_PAYLOAD, 1007);
    assert.equal(CLOSE_CODE.POLICY_VIOLATION, 1008);
    assert.equal(CLOSE_CODE.MESSAGE_TOO_BIG, 1009);
    assert.equal(CLOSE_CODE.BAD_GATEWAY, 1014);
  });

  test('isValidCloseCode over the whole 16-bit range matches the rule', () => {
    const valid: number[] = [];
    for (let code = 0; code <= 0xffff; code++) if (isValidCloseCode(code)) valid.push(code);
    const expected: number[] = [1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014];
    for (let code = 3000; code <= 4999; code++) expected.push(code);
    assert.deepEqual(valid, expected);
  });
});

describe('parseClosePayload', () => {
  const cases: [string, string, ReturnType<typeof parseClosePayload>][] = [
    ['empty body: no status', '', { ok: true, code: undefined, reason: '' }],
    ['code only', '03e8', { ok: true, code: 1000, reason: '' }],
    ['code and reason', '03e9627965', { ok: true, code: 1001, reason: 'bye' }],
    ['UTF-8 reason', '0bb8e282ac', { ok: true, code: 3000, reason: '€' }],
    ['a leading BOM is kept', '03e8efbbbf78', { ok: true, code: 1000, reason: '\ufeffx' }],
    ['1-byte body', '03', { ok: false, problem: 'ONE_BYTE_BODY', code: undefined }],
    ['code 999', '03e7', { ok: false, problem: 'INVALID_CODE', code: 999 }],
    ['code 1006', '03ee', { ok: false, problem: 'INVALID_CODE', code: 1006 }],
    ['code 5000', '1388', { ok: false, problem: 'INVALID_CODE', code: 5000 }],
    ['reason not UTF-8', '03e8c0af', { ok: false, problem: 'INVALID_REASON', code: 1000 }],
    ['126 bytes', '03e8' + '61'.repeat(124), { ok: false, problem: 'TOO_LONG', code: 1000 }],
  ];
  for (const [name, h, expected] of cases) {
    test(name, () => assert.deepEqual(parseClosePayload(fromHex(h)), expected));
  }
});

describe('encodeClosePayload', () => {
  test('round trip', () => {
    const body = encodeClosePayload(4000, 'custom ✓');
    assert.deepEqual(parseClosePayload(body), { ok: true, code: 4000, reason: 'custom ✓' });
    assert.equal(encodeClosePayload().length, 0);
  });

  test('refuses what may not be sent', () => {
    assert.throws(() => encodeClosePayload(1006), RangeError);
    assert.throws(() => encodeClosePayload(undefined, 'x'), RangeError);
    assert.throws(() => encodeClosePayload(1000, 'x'.repeat(MAX_CLOSE_REASON_BYTES + 1)), RangeError);
  });
});
