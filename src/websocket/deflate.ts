// permessage-deflate (RFC 7692) for display only: what the 101 agreed, and an inflater per direction that
// turns compressed messages back into text for the traffic log. It never touches the forwarded bytes, and it is
// bounded: a message that inflates past maxDecodedBytes is flagged instead of decoded.
import { constants, inflateRawSync } from 'node:zlib';
import { headerTokens } from '../http/head.ts';

export type DeflateParams = {
  serverNoContextTakeover: boolean;
  clientNoContextTakeover: boolean;
  /** LZ77 window of messages the server sends (RFC 7692 §7.1.2.1), 8..15; 15 when not negotiated. */
  serverMaxWindowBits: number;
  /** Window of messages the client sends (§7.1.2.2). */
  clientMaxWindowBits: number;
};

/**
 * The permessage-deflate parameters from the Sec-WebSocket-Extensions header of a 101, or undefined when the
 * extension was not agreed. The server's answer holds exactly one set of parameters (§5.1).
 */
export function parseDeflateResponse(header: string | undefined): DeflateParams | undefined {
  if (header === undefined) return undefined;
  for (const offer of header.split(',')) {
    const [name, ...params] = offer.split(';').map((p) => p.trim());
    if (name?.toLowerCase() !== 'permessage-deflate') continue;
    const result: DeflateParams = {
      serverNoContextTakeover: false,
      clientNoContextTakeover: false,
      serverMaxWindowBits: 15,
      clientMaxWindowBits: 15,
    };
    for (const param of params) {
      const [key = '', rawValue] = param.split('=').map((p) => p.trim());
      const value = rawValue?.replace(/^"(.*)"$/, '$1');
      const bits = value === undefined ? 15 : Number(value);
      switch (key.toLowerCase()) {
        case 'server_no_context_takeover':
          result.serverNoContextTakeover = true;
          break;
        case 'client_no_context_takeover':
          result.clientNoContextTakeover = true;
          break;
        case 'server_max_window_bits':
          if (Number.isInteger(bits) && bits >= 8 && bits <= 15) result.serverMaxWindowBits = bits;
          break;
        case 'client_max_window_bits':
          if (Number.isInteger(bits) && bits >= 8 && bits <= 15) result.clientMaxWindowBits = bits;
          break;
      }
    }
    return result;
  }
  return undefined;
}

export function deflateAgreed(header: string | undefined): boolean {
  return headerTokens(header).some((t) => t.split(';')[0]?.trim() === 'permessage-deflate');
}

/**
 * Whether a 101 agreed an extension other than permessage-deflate. wsgate does not know what such an extension makes
 * of the RSV bits (x-webkit-deflate-frame sets RSV1 on every frame), so the tap does not call them violations.
 */
export function otherExtensionAgreed(header: string | undefined): boolean {
  return headerTokens(header).some((t) => {
    const name = t.split(';')[0]?.trim();
    return name !== undefined && name !== '' && name !== 'permessage-deflate';
  });
}

export type InflateResult =
  | { ok: true; data: Buffer }
  /** Inflating would exceed the bound, or the stream cannot be decoded; the connection is not affected. */
  | { ok: false; reason: 'too-large' | 'corrupt' | 'disabled'; detail: string };

/** RFC 7692 §7.2.2: the sender removed these four bytes from the end of each message; inflate needs them back. */
const TAIL = Buffer.from([0x00, 0x00, 0xff, 0xff]);

/**
 * Inflates one direction's messages in order. With context takeover, message N refers back into the output of
 * earlier messages, so the last window of output is kept and handed to zlib as a preset dictionary; this keeps
 * inflation synchronous and per message (no long-lived zlib stream per connection). Once a message could not be
 * decoded while context takeover is on, later ones cannot be either, and the inflater says so.
 */
export class DisplayInflater {
  #windowBits: number;
  #windowBytes: number;
  #takeover: boolean;
  #maxDecodedBytes: number;
  #window: Buffer | undefined;
  #disabled: string | undefined;

  constructor(options: { windowBits: number; noContextTakeover: boolean; maxDecodedBytes: number }) {
    // zlib's raw inflate does not accept an 8-bit window; a 9-bit one reads 8-bit streams fine.
    this.#windowBits = Math.max(9, options.windowBits);
    this.#windowBytes = 1 << options.windowBits;
    this.#takeover = !options.noContextTakeover;
    this.#maxDecodedBytes = options.maxDecodedBytes;
  }

  get disabled(): string | undefined {
    return this.#disabled;
  }

  /** A message was not inflated (e.g. too large to even collect): with context takeover, later ones cannot be. */
  skip(detail: string): void {
    if (this.#takeover)
      this.#disabled = `an earlier message was not decoded (${detail}); later messages share its context`;
  }

  inflate(compressed: Buffer): InflateResult {
    if (this.#disabled !== undefined) return { ok: false, reason: 'disabled', detail: this.#disabled };
    let data: Buffer;
    try {
      data = inflateRawSync(Buffer.concat([compressed, TAIL]), {
        windowBits: this.#windowBits,
        finishFlush: constants.Z_SYNC_FLUSH,
        maxOutputLength: this.#maxDecodedBytes,
        ...(this.#window ? { dictionary: this.#window } : {}),
      });
    } catch (err) {
      const tooLarge = (err as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE';
      const detail = tooLarge
        ? `inflates to more than ${this.#maxDecodedBytes} bytes`
        : `cannot inflate: ${(err as Error).message}`;
      if (this.#takeover) this.#disabled = `an earlier message ${detail}; later messages share its context`;
      return { ok: false, reason: tooLarge ? 'too-large' : 'corrupt', detail };
    }
    if (this.#takeover) {
      const joined = this.#window ? Buffer.concat([this.#window, data]) : data;
      this.#window = Buffer.from(joined.subarray(Math.max(0, joined.length - this.#windowBytes)));
    }
    return { ok: true, data };
  }
}
