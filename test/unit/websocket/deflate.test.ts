import assert from 'node:assert/strict';
import { test } from 'node:test';
import { constants, createDeflateRaw, type DeflateRaw } from 'node:zlib';
import { DisplayInflater, otherExtensionAgreed, parseDeflateResponse } from '../../../src/websocket/deflate.ts';

/** Compresses messages the way a permessage-deflate sender does: one stream, sync flush, tail removed. */
function sender(windowBits: number, noContextTakeover: boolean) {
  let stream: DeflateRaw = createDeflateRaw({ windowBits });
  return async (text: string): Promise<Buffer> => {
    if (noContextTakeover) stream = createDeflateRaw({ windowBits });
    const chunks: Buffer[] = [];
    const onData = (c: Buffer) => chunks.push(c);
    stream.on('data', onData);
    stream.write(text);
    await new Promise<void>((resolve) => stream.flush(constants.Z_SYNC_FLUSH, () => resolve()));
    stream.off('data', onData);
    const out = Buffer.concat(chunks);
    return out.subarray(0, out.length - 4); // RFC 7692 §7.2.1: drop 00 00 ff ff
  };
}

test('parseDeflateResponse reads the agreed parameters', () => {
  assert.equal(parseDeflateResponse(undefined), undefined);
  assert.equal(parseDeflateResponse('x-webkit-deflate-frame'), undefined);
  assert.deepEqual(parseDeflateResponse('permessage-deflate'), {
    serverNoContextTakeover: false,
    clientNoContextTakeover: false,
    serverMaxWindowBits: 15,
    clientMaxWindowBits: 15,
  });
  assert.deepEqual(
    parseDeflateResponse(
      'permessage-deflate; server_no_context_takeover; client_max_window_bits=10; server_max_window_bits="9"',
    ),
    { serverNoContextTakeover: true, clientNoContextTakeover: false, serverMaxWindowBits: 9, clientMaxWindowBits: 10 },
  );
  assert.equal(parseDeflateResponse('permessage-deflate; client_max_window_bits=99')?.clientMaxWindowBits, 15);
});

for (const windowBits of [9, 12, 15]) {
  for (const noContextTakeover of [false, true]) {
    test(`messages decode in order (window ${windowBits}, context takeover ${!noContextTakeover})`, async () => {
      const compress = sender(windowBits, noContextTakeover);
      const inflater = new DisplayInflater({ windowBits, noContextTakeover, maxDecodedBytes: 1 << 20 });
      const texts = [
        'hello hello hello',
        'hello hello hello again',
        '{"type":"typing","user":"ada"}',
        'hello'.repeat(50),
      ];
      for (const text of texts) {
        const result = inflater.inflate(await compress(text));
        assert.equal(result.ok, true);
        if (result.ok) assert.equal(result.data.toString(), text);
      }
    });
  }
}

test('a bomb is refused at maxDecodedBytes; with context takeover later messages are disabled, not garbled', async () => {
  const compress = sender(15, false);
  const inflater = new DisplayInflater({ windowBits: 15, noContextTakeover: false, maxDecodedBytes: 64 * 1024 });
  const bomb = await compress('\0'.repeat(1024 * 1024));
  const first = inflater.inflate(bomb);
  assert.deepEqual(first.ok, false);
  if (!first.ok) assert.equal(first.reason, 'too-large');
  const next = inflater.inflate(await compress('after'));
  assert.equal(next.ok, false);
  if (!next.ok) assert.equal(next.reason, 'disabled');
});

test('without context takeover a bomb does not stop later messages', async () => {
  const compress = sender(15, true);
  const inflater = new DisplayInflater({ windowBits: 15, noContextTakeover: true, maxDecodedBytes: 64 * 1024 });
  assert.equal(inflater.inflate(await compress('\0'.repeat(1024 * 1024))).ok, false);
  const next = inflater.inflate(await compress('after'));
  assert.equal(next.ok && next.data.toString(), 'after');
});

test('garbage is reported as corrupt, not thrown', () => {
  const inflater = new DisplayInflater({ windowBits: 15, noContextTakeover: true, maxDecodedBytes: 1024 });
  const result = inflater.inflate(Buffer.from([0xff, 0xff, 0xff, 0xff, 0x00]));
  assert.equal(result.ok, false);
  if (!result.ok) assert.equal(result.reason, 'corrupt');
});

test('otherExtensionAgreed: any extension of a 101 but permessage-deflate', () => {
  assert.equal(otherExtensionAgreed(undefined), false);
  assert.equal(otherExtensionAgreed('permessage-deflate; client_max_window_bits=10'), false);
  assert.equal(otherExtensionAgreed('Permessage-Deflate'), false);
  assert.equal(otherExtensionAgreed('x-webkit-deflate-frame'), true);
  assert.equal(otherExtensionAgreed('permessage-deflate, x-foo; a=1'), true);
});
