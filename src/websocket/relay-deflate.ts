// permessage-deflate for the relay with `deflate: keep` (RFC 7692): per direction, an inflater for what arrives
// and a deflater for what the relay sends on, both with the parameters the 101 agreed for that direction. The
// relay is the compressor toward each peer, so it keeps its own LZ77 context: the last window of what it
// compressed is the preset dictionary of the next message (context takeover), or nothing when the sender side
// negotiated no_context_takeover. Synchronous and per message, like the tap's DisplayInflater, so the relay keeps
// its order without a promise queue.
import { constants, deflateRawSync } from 'node:zlib';
import type { Direction } from '../events.ts';
import { type DeflateParams, DisplayInflater, type InflateResult } from './deflate.ts';

/** RFC 7692 §7.2.1: a message compressed with a sync flush ends in these four bytes, which are not sent. */
const TAIL_LENGTH = 4;

/** The window bits and context takeover of one direction: client→server uses the client_* parameters. */
export function directionParams(
  params: DeflateParams,
  direction: Direction,
): { windowBits: number; noContextTakeover: boolean } {
  return direction === 'toUpstream'
    ? { windowBits: params.clientMaxWindowBits, noContextTakeover: params.clientNoContextTakeover }
    : { windowBits: params.serverMaxWindowBits, noContextTakeover: params.serverNoContextTakeover };
}

/** Compresses the messages of one direction as the peer's inflater expects them. */
export class RelayDeflater {
  #windowBits: number;
  #windowBytes: number;
  #takeover: boolean;
  #window: Buffer | undefined;

  constructor(options: { windowBits: number; noContextTakeover: boolean }) {
    // zlib refuses an 8-bit window for raw deflate on some versions; ws maps 8 to 9 on both ends, and so does wsgate.
    this.#windowBits = Math.max(9, options.windowBits);
    this.#windowBytes = 1 << options.windowBits;
    this.#takeover = !options.noContextTakeover;
  }

  /** One message's compressed payload, without the 00 00 ff ff tail (RFC 7692 §7.2.1). */
  deflate(data: Buffer): Buffer {
    const out = deflateRawSync(data, {
      windowBits: this.#windowBits,
      finishFlush: constants.Z_SYNC_FLUSH,
      ...(this.#window ? { dictionary: this.#window } : {}),
    });
    if (this.#takeover) {
      const joined = this.#window ? Buffer.concat([this.#window, data]) : data;
      this.#window = Buffer.from(joined.subarray(Math.max(0, joined.length - this.#windowBytes)));
    }
    return out.subarray(0, out.length - TAIL_LENGTH);
  }
}

/** The inflater and deflater of one direction. */
export type DirectionDeflate = {
  inflate(compressed: Buffer): InflateResult;
  deflate(data: Buffer): Buffer;
};

export function directionDeflate(params: DeflateParams, direction: Direction, maxBytes: number): DirectionDeflate {
  const p = directionParams(params, direction);
  const inflater = new DisplayInflater({ ...p, maxDecodedBytes: maxBytes });
  const deflater = new RelayDeflater(p);
  return {
    inflate: (compressed) => inflater.inflate(compressed),
    deflate: (data) => deflater.deflate(data),
  };
}
