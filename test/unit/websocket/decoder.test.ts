// The frame decoder: RFC 6455 §5.7 golden vectors cut at every offset, every violation code against ws's Receiver,
// and the callback order and stop() contract of FrameHandler.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ERRORS } from '../../../src/errors.ts';
import {
  DECODER_STATE,
  FrameDecoder,
  type FrameDecoderOptions,
  type FrameHandler,
} from '../../../src/websocket/decoder.ts';
import { encodeClose, encodeFrame } from '../../../src/websocket/encoder.ts';
import { OPCODE } from '../../../src/websocket/frame.ts';
import { VIOLATION_CODES, type ViolationCode } from '../../../src/websocket/violation.ts';
import type { Event } from './codec-helpers.ts';
import {
  CLIENT_TO_SERVER,
  decode,
  decodeChunks,
  fromHex,
  hex,
  Recorder,
  SERVER_TO_CLIENT,
  splits,
  wsVerdict,
} from './codec-helpers.ts';

const HELLO = Buffer.from('Hello').toString('hex');
const KEY = '37fa213d';

type Golden = {
  name: string;
  input: string;
  options: FrameDecoderOptions;
  /** The frames as [opcode, fin, unmasked payload hex]. */
  frames: [number, boolean, string][];
  /** Extra checks on the whole-input events. */
  check?: (events: Event[]) => void;
};

const bytes256 = Buffer.alloc(256, 0xab).toString('hex');
const bytes64k = Buffer.alloc(65536, 0x5a).toString('hex');

// RFC 6455 §5.7 examples, plus the length forms, fragmentation with control frames inside, and close frames.
const GOLDEN: Golden[] = [
  {
    name: 'unmasked text "Hello" (§5.7)',
    input: '810548656c6c6f',
    options: SERVER_TO_CLIENT,
    frames: [[OPCODE.TEXT, true, HELLO]],
    check: (events) => {
      assert.deepEqual(events, [
        {
          type: 'header',
          header: {
            fin: true,
            rsv1: false,
            rsv2: false,
            rsv3: false,
            opcode: 1,
            masked: false,
            maskKey: undefined,
            payloadLength: 5,
            headerLength: 2,
          },
        },
        { type: 'frameEnd', opcode: 1, fin: true, raw: HELLO, data: HELLO },
        { type: 'messageEnd', opcode: 1, fragments: 1, size: 5, compressed: false },
      ]);
    },
  },
  {
    name: 'masked text "Hello" (§5.7)',
    input: '818537fa213d7f9f4d5158',
    options: CLIENT_TO_SERVER,
    frames: [[OPCODE.TEXT, true, HELLO]],
    check: (events) => {
      const header = events[0];
      assert.equal(header?.type, 'header');
      if (header?.type === 'header') {
        assert.equal(header.header.maskKey, KEY);
        assert.equal(header.header.headerLength, 6);
      }
      const end = events.find((e) => e.type === 'frameEnd');
      assert.equal(end?.type === 'frameEnd' && end.raw, '7f9f4d5158', 'onPayload gives the bytes still masked');
    },
  },
  {
    name: 'fragmented unmasked text "Hel" + "lo" (§5.7)',
    input: '010348656c' + '80026c6f',
    options: SERVER_TO_CLIENT,
    frames: [
      [OPCODE.TEXT, false, '48656c'],
      [OPCODE.CONTINUATION, true, '6c6f'],
    ],
    check: (events) => {
      assert.deepEqual(events.at(-1), { type: 'messageEnd', opcode: 1, fragments: 2, size: 5, compressed: false });
    },
  },
  {
    name: 'unmasked ping "Hello" (§5.7)',
    input: '890548656c6c6f',
    options: SERVER_TO_CLIENT,
    frames: [[OPCODE.PING, true, HELLO]],
    check: (events) => assert.deepEqual(events[1], { type: 'control', opcode: OPCODE.PING, payload: HELLO }),
  },
  {
    name: 'masked pong "Hello" (§5.7): control payload is given unmasked',
    input: '8a8537fa213d7f9f4d5158',
    options: CLIENT_TO_SERVER,
    frames: [[OPCODE.PONG, true, HELLO]],
    check: (events) => assert.deepEqual(events[1], { type: 'control', opcode: OPCODE.PONG, payload: HELLO }),
  },
  {
    name: '256-byte binary, 16-bit length (§5.7)',
    input: '827e0100' + bytes256,
    options: SERVER_TO_CLIENT,
    frames: [[OPCODE.BINARY, true, bytes256]],
  },
  {
    name: '64 KiB binary, 64-bit length (§5.7)',
    input: '827f0000000000010000' + bytes64k,
    options: SERVER_TO_CLIENT,
    frames: [[OPCODE.BINARY, true, bytes64k]],
  },
  {
    name: 'masked 126-byte binary, 16-bit length and mask',
    input: hex(encodeFrame({ opcode: OPCODE.BINARY, payload: Buffer.alloc(126, 7), maskKey: fromHex(KEY) })),
    options: CLIENT_TO_SERVER,
    frames: [[OPCODE.BINARY, true, Buffer.alloc(126, 7).toString('hex')]],
  },
  {
    name: 'ping between fragments',
    input: '010348656c' + '890548656c6c6f' + '80026c6f',
    options: SERVER_TO_CLIENT,
    frames: [
      [OPCODE.TEXT, false, '48656c'],
      [OPCODE.PING, true, HELLO],
      [OPCODE.CONTINUATION, true, '6c6f'],
    ],
    check: (events) => {
      assert.equal(events.filter((e) => e.type === 'violation').length, 0);
      assert.equal(events.filter((e) => e.type === 'messageEnd').length, 1);
    },
  },
  {
    name: 'close 1000 "bye"',
    input: '880503e8627965',
    options: SERVER_TO_CLIENT,
    frames: [[OPCODE.CLOSE, true, '03e8627965']],
    check: (events) => assert.deepEqual(events[1], { type: 'control', opcode: OPCODE.CLOSE, payload: '03e8627965' }),
  },
  {
    name: 'masked close 1001 "away"',
    input: hex(encodeClose(1001, 'away', fromHex(KEY))),
    options: CLIENT_TO_SERVER,
    frames: [[OPCODE.CLOSE, true, '03e9' + Buffer.from('away').toString('hex')]],
  },
  {
    name: 'empty close, empty text, empty binary',
    input: '8800' + '8100' + '8200',
    options: SERVER_TO_CLIENT,
    frames: [
      [OPCODE.CLOSE, true, ''],
      [OPCODE.TEXT, true, ''],
      [OPCODE.BINARY, true, ''],
    ],
  },
  {
    name: 'text with a code point split across fragments (€ = e2 82 ac)',
    input: '0102e282' + '8001ac',
    options: SERVER_TO_CLIENT,
    frames: [
      [OPCODE.TEXT, false, 'e282'],
      [OPCODE.CONTINUATION, true, 'ac'],
    ],
  },
];

describe('FrameDecoder golden vectors', () => {
  for (const g of GOLDEN) {
    test(g.name, () => {
      const input = fromHex(g.input);
      const before = Buffer.from(input);
      const whole = decode(g.options, input);
      assert.deepEqual(
        whole.flatMap((e) => (e.type === 'frameEnd' ? [[e.opcode, e.fin, e.data]] : [])),
        g.frames,
      );
      assert.deepEqual(
        whole.filter((e) => e.type === 'violation'),
        [],
      );
      g.check?.(whole);
      for (const { name, chunks } of splits(input)) {
        assert.deepEqual(decodeChunks(g.options, chunks), whole, name);
      }
      assert.deepEqual(input, before, 'the input is never modified');
    });
  }

  test('onPayload slices are views into the pushed chunk, not copies', () => {
    const input = fromHex('818537fa213d7f9f4d5158');
    const seen: Uint8Array[] = [];
    const decoder = new FrameDecoder(CLIENT_TO_SERVER, {
      onFrameHeader() {},
      onPayload(slice) {
        seen.push(slice);
      },
      onFrameEnd() {},
      onViolation(v) {
        assert.fail(v.message);
      },
    });
    decoder.push(input);
    assert.equal(seen.length, 1);
    assert.equal(seen[0]!.buffer, input.buffer);
    assert.equal(seen[0]!.byteOffset, input.byteOffset + 6);
  });

  test('a handler without onPayload still gets headers, control payloads and message ends', () => {
    const events: string[] = [];
    const handler: FrameHandler = {
      onFrameHeader: (h) => events.push(`h${h.opcode}`),
      onFrameEnd: (h) => events.push(`e${h.opcode}`),
      onViolation: (v) => events.push(v.code),
      onControl: (_h, p) => events.push(`c${Buffer.from(p).toString()}`),
      onMessageEnd: (m) => events.push(`m${m.size}`),
    };
    new FrameDecoder(SERVER_TO_CLIENT, handler).push(fromHex('010348656c' + '890548656c6c6f' + '80026c6f'));
    assert.deepEqual(events, ['h1', 'e1', 'h9', 'cHello', 'e9', 'h0', 'e0', 'm5']);
  });

  test('state names follow the header as it arrives', () => {
    const decoder = new FrameDecoder(CLIENT_TO_SERVER, new Recorder());
    const input = encodeFrame({ opcode: OPCODE.BINARY, payload: Buffer.alloc(70000), maskKey: fromHex(KEY) });
    const states: number[] = [];
    for (let i = 0; i < 16; i++) {
      decoder.push(input.subarray(i, i + 1));
      states.push(decoder.state);
    }
    const { GET_INFO, GET_PAYLOAD_LENGTH_64, GET_MASK, GET_DATA } = DECODER_STATE;
    // One byte at a time: 2 bytes of info, 8 of length, 4 of mask, then payload.
    assert.deepEqual(states, [
      GET_INFO,
      ...Array(8).fill(GET_PAYLOAD_LENGTH_64),
      ...Array(4).fill(GET_MASK),
      ...Array(3).fill(GET_DATA),
    ]);
    assert.equal(decoder.midFrame, true);
    assert.equal(decoder.midMessage, true);
    assert.equal(decoder.message?.opcode, OPCODE.BINARY);
    decoder.push(input.subarray(16));
    assert.equal(decoder.midFrame, false);
    assert.equal(decoder.midMessage, false);
    assert.equal(decoder.message, undefined);
  });

  test('stop() makes the decoder ignore input', () => {
    const rec = new Recorder();
    const decoder = new FrameDecoder(SERVER_TO_CLIENT, rec);
    decoder.stop();
    decoder.push(fromHex('810548656c6c6f'));
    assert.equal(decoder.stopped, true);
    assert.deepEqual(rec.events, []);
  });

  test('stop() from a callback: no callback follows, even later in the same chunk', () => {
    const input = fromHex('e10161' + '8100' + '880203e8');
    for (const stopAt of ['violation', 'header', 'end', 'message']) {
      const seen: string[] = [];
      const decoder: FrameDecoder = new FrameDecoder(SERVER_TO_CLIENT, {
        onViolation: (v) => {
          seen.push(v.code);
          if (stopAt === 'violation') decoder.stop();
        },
        onFrameHeader: () => {
          seen.push('header');
          if (stopAt === 'header') decoder.stop();
        },
        onFrameEnd: () => {
          seen.push('end');
          if (stopAt === 'end') decoder.stop();
        },
        onMessageEnd: () => {
          seen.push('message');
          if (stopAt === 'message') decoder.stop();
        },
      });
      decoder.push(input);
      assert.equal(seen.at(-1), stopAt === 'violation' ? 'WSG_WS_UNEXPECTED_RSV2_RSV3' : stopAt, stopAt);
      assert.equal(seen.filter((e) => e === seen.at(-1)).length, 1, `${stopAt}: ${seen.join(' ')}`);
    }
  });
});

type ViolationCase = {
  code: ViolationCode;
  name: string;
  input: string;
  options?: Partial<FrameDecoderOptions>;
  /** Whether ws's Receiver, in the same direction, fails with the same close code. */
  ws?: boolean;
  /** Other violations expected alongside (in order). */
  all?: ViolationCode[];
};

const VIOLATION_CASES: ViolationCase[] = [
  {
    code: 'WSG_WS_UNMASKED_FRAME',
    name: 'unmasked client frame',
    input: '810548656c6c6f',
    options: CLIENT_TO_SERVER,
    ws: true,
  },
  { code: 'WSG_WS_MASKED_FRAME', name: 'masked server frame', input: '818537fa213d7f9f4d5158', ws: true },
  { code: 'WSG_WS_CONTROL_TOO_LONG', name: 'ping of 126 bytes', input: '897e007e' + '00'.repeat(126), ws: true },
  { code: 'WSG_WS_CONTROL_FRAGMENTED', name: 'ping with FIN clear', input: '090161', ws: true },
  { code: 'WSG_WS_RESERVED_OPCODE', name: 'reserved data opcode 0x3', input: '830161', ws: true },
  { code: 'WSG_WS_RESERVED_OPCODE', name: 'reserved control opcode 0xB', input: '8b00', ws: true },
  { code: 'WSG_WS_UNEXPECTED_RSV1', name: 'RSV1 without permessage-deflate', input: 'c10161', ws: true },
  {
    code: 'WSG_WS_UNEXPECTED_RSV1',
    name: 'RSV1 on a control frame with permessage-deflate',
    input: 'c900',
    options: { allowRsv1: true },
  },
  {
    code: 'WSG_WS_UNEXPECTED_RSV1',
    name: 'RSV1 on a continuation frame with permessage-deflate',
    input: '410161' + 'c00162',
    options: { allowRsv1: true },
  },
  { code: 'WSG_WS_UNEXPECTED_RSV2_RSV3', name: 'RSV2 set', input: 'a10161', ws: true },
  { code: 'WSG_WS_UNEXPECTED_RSV2_RSV3', name: 'RSV3 set', input: '910161', ws: true },
  { code: 'WSG_WS_UNEXPECTED_CONTINUATION', name: 'continuation without a message', input: '800161', ws: true },
  {
    code: 'WSG_WS_EXPECTED_CONTINUATION',
    name: 'new TEXT frame inside a fragmented message',
    input: '010161' + '810162',
    ws: true,
  },
  { code: 'WSG_WS_CLOSE_ONE_BYTE', name: 'close with a 1-byte body', input: '880103', ws: true },
  { code: 'WSG_WS_INVALID_CLOSE_CODE', name: 'close code 999', input: '880203e7', ws: true },
  { code: 'WSG_WS_INVALID_CLOSE_CODE', name: 'close code 1005 on the wire', input: '880203ed', ws: true },
  { code: 'WSG_WS_INVALID_CLOSE_CODE', name: 'close code 5000', input: '88021388', ws: true },
  { code: 'WSG_WS_INVALID_CLOSE_REASON', name: 'close reason not UTF-8', input: '880303e8ff', ws: true },
  { code: 'WSG_WS_INVALID_UTF8', name: 'text C0 AF (overlong)', input: '8102c0af', ws: true },
  {
    code: 'WSG_WS_INVALID_UTF8',
    name: 'text cut inside a code point by a bad continuation byte',
    input: '0102e282' + '800141',
    ws: true,
  },
  {
    code: 'WSG_WS_INVALID_UTF8',
    name: 'text ending inside a code point (truncated at the end of the message)',
    input: '0102e282' + '8000',
    ws: true,
  },
  {
    code: 'WSG_WS_LENGTH_MSB_SET',
    name: '64-bit length 2^63',
    input: '827f8000000000000000',
    ws: true,
  },
  {
    code: 'WSG_WS_LENGTH_UNSUPPORTED',
    name: '64-bit length 2^53',
    input: '827f0020000000000000',
    ws: true,
  },
  {
    code: 'WSG_WS_FRAME_TOO_LARGE',
    name: '2 MiB frame against a 1 MiB limit',
    input: '827f0000000000200000',
    options: { maxFrameBytes: 1024 * 1024 },
  },
  {
    code: 'WSG_WS_MESSAGE_TOO_LARGE',
    name: 'second fragment pushes the message over 3 bytes',
    input: '01024142' + '80024344',
    options: { maxMessageBytes: 3 },
  },
  {
    code: 'WSG_WS_TOO_MANY_FRAGMENTS',
    name: 'third fragment over a limit of 2',
    input: '010141' + '000142' + '800143',
    options: { maxFragments: 2 },
  },
];

describe('FrameDecoder violations', () => {
  test('every violation code has at least one case', () => {
    const covered = new Set(VIOLATION_CASES.map((c) => c.code));
    // Pending pings need both directions: the tap (observer.ts) finds them, and observer.test.ts covers them.
    const tapOnly = new Set(['WSG_WS_TOO_MANY_PENDING_PINGS']);
    assert.deepEqual(
      VIOLATION_CODES.filter((k) => !covered.has(k) && !tapOnly.has(k)),
      [],
    );
  });

  for (const c of VIOLATION_CASES) {
    test(`${c.code}: ${c.name}`, async () => {
      const options: FrameDecoderOptions = { ...SERVER_TO_CLIENT, ...c.options };
      const input = fromHex(c.input);
      const events = decode(options, input);
      const violations = events.filter((e) => e.type === 'violation');
      assert.equal(violations.length >= 1, true, 'reported');
      const v = violations[0]!;
      const spec = ERRORS[c.code];
      assert.equal(v.code, c.code);
      assert.equal(v.rule, spec.rule);
      assert.equal(v.closeCode, spec.closeCode);
      assert.equal(v.fatal, spec.fatal);
      assert.match(v.message, /\S/);
      assert.doesNotMatch(v.message, /\{\w+\}/, 'template filled');
      assert.equal(violations.length, 1, `exactly one violation: ${violations.map((x) => x.code).join(', ')}`);
      for (const { name, chunks } of splits(input)) {
        assert.deepEqual(decodeChunks(options, chunks), events, name);
      }
      if (c.ws === true) {
        const oracle = await wsVerdict(input, options.expectMasked, options.maxFrameBytes);
        assert.equal(oracle.closeCode, spec.closeCode, `ws fails with ${oracle.errorCode}`);
      }
    });
  }

  test('header violations come before onFrameHeader; fatal ones stop the decoder', () => {
    const events = decode({ ...SERVER_TO_CLIENT, maxFrameBytes: 10 }, fromHex('820b' + '00'.repeat(11) + '8100'));
    assert.deepEqual(
      events.map((e) => e.type),
      ['violation'],
    );
    const rec = new Recorder();
    const decoder = new FrameDecoder(SERVER_TO_CLIENT, rec);
    decoder.push(fromHex('827f8000000000000000'));
    assert.equal(decoder.stopped, true);
    decoder.push(fromHex('810548656c6c6f'));
    assert.deepEqual(rec.violations(), ['WSG_WS_LENGTH_MSB_SET']);
    assert.equal(rec.events.length, 1, 'nothing decoded after a fatal violation');
  });

  test('non-fatal violations keep framing: the next frame decodes', () => {
    const rec = new Recorder();
    new FrameDecoder(CLIENT_TO_SERVER, rec).push(fromHex('810548656c6c6f' + '818537fa213d7f9f4d5158'));
    assert.deepEqual(rec.violations(), ['WSG_WS_UNMASKED_FRAME']);
    assert.deepEqual(
      rec.frames().map((f) => Buffer.from(f.data, 'hex').toString()),
      ['Hello', 'Hello'],
    );
  });

  test('a new data frame inside a fragmented message starts a new message', () => {
    const events = decode(SERVER_TO_CLIENT, fromHex('010161' + '810162'));
    assert.deepEqual(
      events.filter((e) => e.type === 'messageEnd'),
      [{ type: 'messageEnd', opcode: 1, fragments: 1, size: 1, compressed: false }],
    );
  });

  test('a continuation without a message is framed but ends no message', () => {
    const events = decode(SERVER_TO_CLIENT, fromHex('800161' + '810162'));
    assert.equal(events.filter((e) => e.type === 'frameEnd').length, 2);
    assert.equal(events.filter((e) => e.type === 'messageEnd').length, 1);
  });

  test('several rules broken by one frame are all reported, in ws order', () => {
    const events = decode(CLIENT_TO_SERVER, fromHex('e9' + '7e' + '007e' + '00'.repeat(126)));
    assert.deepEqual(
      events.flatMap((e) => (e.type === 'violation' ? [e.code] : [])),
      ['WSG_WS_UNEXPECTED_RSV2_RSV3', 'WSG_WS_UNEXPECTED_RSV1', 'WSG_WS_CONTROL_TOO_LONG', 'WSG_WS_UNMASKED_FRAME'],
    );
  });

  test('valid close codes pass; every invalid one is reported', () => {
    const valid = [1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 3999, 4000, 4999];
    const invalid = [0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535];
    for (const code of valid) {
      const events = decode(SERVER_TO_CLIENT, fromHex('8802' + code.toString(16).padStart(4, '0')));
      assert.deepEqual(
        events.filter((e) => e.type === 'violation'),
        [],
        `code ${code}`,
      );
    }
    for (const code of invalid) {
      const events = decode(SERVER_TO_CLIENT, fromHex('8802' + code.toString(16).padStart(4, '0')));
      assert.deepEqual(
        events.flatMap((e) => (e.type === 'violation' ? [e.code] : [])),
        ['WSG_WS_INVALID_CLOSE_CODE'],
        `code ${code}`,
      );
    }
  });

  test('invalid UTF-8 is reported once, when the message completes', () => {
    const events = decode(SERVER_TO_CLIENT, fromHex('0101ff' + '890161' + '0001ff' + '800141'));
    assert.deepEqual(
      events.map((e) => (e.type === 'violation' ? e.code : e.type)),
      [
        'header',
        'frameEnd',
        'header',
        'control',
        'frameEnd',
        'header',
        'frameEnd',
        'header',
        'WSG_WS_INVALID_UTF8',
        'frameEnd',
        'messageEnd',
      ],
    );
  });

  test('masked text is validated too (unmasked through scratch), including across chunks', () => {
    const key = fromHex(KEY);
    const bad = encodeFrame({ opcode: OPCODE.TEXT, payload: Buffer.from([0x41, 0xed, 0xa0, 0x80]), maskKey: key });
    const good = encodeFrame({ opcode: OPCODE.TEXT, payload: 'héllo wörld '.repeat(3000), maskKey: key });
    for (const { name, chunks } of splits(bad)) {
      const events = decodeChunks(CLIENT_TO_SERVER, chunks);
      assert.deepEqual(
        events.flatMap((e) => (e.type === 'violation' ? [e.code] : [])),
        ['WSG_WS_INVALID_UTF8'],
        name,
      );
    }
    const chunks = [good.subarray(0, 7), good.subarray(7, 20001), good.subarray(20001)];
    assert.deepEqual(
      decodeChunks(CLIENT_TO_SERVER, chunks).filter((e) => e.type === 'violation'),
      [],
    );
  });

  test('an invalid byte deep inside a large text frame is found, masked or not, in 64 KiB chunks', () => {
    for (const at of [0, 16383, 16384, 70000, 199999]) {
      const payload = Buffer.alloc(200000, 0x61);
      payload[at] = 0xff;
      for (const maskKey of [undefined, fromHex(KEY)]) {
        const wire = encodeFrame({ opcode: OPCODE.TEXT, payload, maskKey });
        const chunks: Uint8Array[] = [];
        for (let i = 0; i < wire.length; i += 65536) chunks.push(wire.subarray(i, i + 65536));
        const options = { ...SERVER_TO_CLIENT, expectMasked: maskKey !== undefined };
        assert.deepEqual(
          decodeChunks(options, chunks).flatMap((e) => (e.type === 'violation' ? [e.code] : [])),
          ['WSG_WS_INVALID_UTF8'],
          `at ${at}, masked ${maskKey !== undefined}`,
        );
        payload[at] = 0x61;
        const clean = encodeFrame({ opcode: OPCODE.TEXT, payload, maskKey });
        assert.deepEqual(
          decodeChunks(options, [clean.subarray(0, 65539), clean.subarray(65539)]).filter(
            (e) => e.type === 'violation',
          ),
          [],
        );
        payload[at] = 0xff;
      }
    }
  });

  test('compressed text is not validated (RSV1 with permessage-deflate)', () => {
    const events = decode({ ...SERVER_TO_CLIENT, allowRsv1: true }, fromHex('c102c0af'));
    assert.deepEqual(
      events.filter((e) => e.type === 'violation'),
      [],
    );
    assert.deepEqual(events.at(-1), { type: 'messageEnd', opcode: 1, fragments: 1, size: 2, compressed: true });
  });

  test('rsvUnjudged: an unknown extension was agreed, so no RSV bit on any frame is a violation', () => {
    // RSV1+RSV2+RSV3 on a text start, RSV1 on its continuation, RSV1 on a ping.
    const input = fromHex('710161' + 'c00162' + 'c900');
    const judged = decode(SERVER_TO_CLIENT, input).filter((e) => e.type === 'violation');
    assert.equal(judged.length, 4);
    assert.deepEqual(
      decode({ ...SERVER_TO_CLIENT, rsvUnjudged: true }, input).filter((e) => e.type === 'violation'),
      [],
    );
  });

  test('validateUtf8: false skips text and close-reason checks', () => {
    const events = decode({ ...SERVER_TO_CLIENT, validateUtf8: false }, fromHex('8102c0af' + '880303e8ff'));
    assert.deepEqual(
      events.filter((e) => e.type === 'violation'),
      [],
    );
  });

  test('a non-minimal length form is accepted, as ws does', async () => {
    const input = fromHex('817f0000000000000005' + HELLO);
    const events = decode(SERVER_TO_CLIENT, input);
    assert.deepEqual(
      events.filter((e) => e.type === 'violation'),
      [],
    );
    assert.equal((await wsVerdict(input, false)).messages, 1);
  });
});
