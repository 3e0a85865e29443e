// Violations come from the one error table: every WSG_WS_* code carries its rule, close code and fatality there,
// and createViolation copies them and fills the message template. The decoder tests check each code is reported.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ERRORS, type ErrorCode, WsgateError } from '../../../src/errors.ts';
import { createViolation, VIOLATION_CODES } from '../../../src/websocket/violation.ts';

describe('violations in the error table', () => {
  test("the violation codes are exactly the WSG_WS_* codes: the 18 the decoder had and the tap's pending pings", () => {
    const ws = (Object.keys(ERRORS) as ErrorCode[]).filter((code) => code.startsWith('WSG_WS_'));
    assert.deepEqual([...VIOLATION_CODES], ws);
    assert.equal(VIOLATION_CODES.length, 19);
    assert.ok(Object.isFrozen(VIOLATION_CODES));
  });

  test('each has an RFC rule, a close code, a fatality and no HTTP status or exit code', () => {
    for (const code of VIOLATION_CODES) {
      const spec = ERRORS[code];
      assert.match(spec.rule, /^RFC (6455|7692) §\d+(\.\d+)*$/, code);
      assert.ok([1002, 1007, 1008, 1009].includes(spec.closeCode), `${code}: close ${spec.closeCode}`);
      assert.equal(typeof spec.fatal, 'boolean', code);
      assert.equal('status' in spec, false, code);
      assert.equal('exitCode' in spec, false, code);
    }
  });

  test('only unrepresentable lengths and the configured limits are fatal', () => {
    assert.deepEqual(
      VIOLATION_CODES.filter((code) => ERRORS[code].fatal),
      [
        'WSG_WS_LENGTH_MSB_SET',
        'WSG_WS_LENGTH_UNSUPPORTED',
        'WSG_WS_FRAME_TOO_LARGE',
        'WSG_WS_MESSAGE_TOO_LARGE',
        'WSG_WS_TOO_MANY_FRAGMENTS',
      ],
    );
  });

  test('createViolation copies the table entry and fills the template', () => {
    assert.deepEqual(createViolation('WSG_WS_FRAME_TOO_LARGE', { length: 2048, limit: 1024 }), {
      code: 'WSG_WS_FRAME_TOO_LARGE',
      rule: 'RFC 6455 §10.4',
      closeCode: 1009,
      fatal: true,
      message: 'frame payload is 2048 bytes; the limit is 1024',
    });
    assert.deepEqual(createViolation('WSG_WS_INVALID_UTF8'), {
      code: 'WSG_WS_INVALID_UTF8',
      rule: 'RFC 6455 §8.1',
      closeCode: 1007,
      fatal: false,
      message: 'text message is not valid UTF-8',
    });
  });

  test('a violation message is the same text a WsgateError of that code would carry', () => {
    const params = { opcode: '0x3' };
    const err = new WsgateError('WSG_WS_RESERVED_OPCODE', params);
    assert.equal(createViolation('WSG_WS_RESERVED_OPCODE', params).message, err.message);
    assert.equal(err.closeCode, 1002);
  });
});
