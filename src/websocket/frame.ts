// The vocabulary of RFC 6455 §5 shared by the decoder, the encoder and their users: opcodes, the size limits of
// a frame header and a control payload, and the shapes of a frame header and of a data message in progress.
// Pure: no sockets, timers or file system.

/** Frame opcodes (RFC 6455 §5.2, §11.8). 0x3-0x7 and 0xB-0xF are reserved. */
export const OPCODE = {
  CONTINUATION: 0x0,
  TEXT: 0x1,
  BINARY: 0x2,
  CLOSE: 0x8,
  PING: 0x9,
  PONG: 0xa,
} as const;

export type Opcode = (typeof OPCODE)[keyof typeof OPCODE];

/** Control frames carry at most 125 payload bytes (RFC 6455 §5.5). */
export const MAX_CONTROL_PAYLOAD = 125;

/** Longest possible frame header: 2 + 8 (64-bit length) + 4 (masking key) bytes (RFC 6455 §5.2). */
export const MAX_HEADER_BYTES = 14;

/**
 * One frame header. The decoder reuses a single header object (and its maskKey) for every frame, so nothing is
 * allocated per frame: it is valid from onFrameHeader to onFrameEnd. Use cloneFrameHeader to keep one.
 */
export type FrameHeader = {
  fin: boolean;
  rsv1: boolean;
  rsv2: boolean;
  rsv3: boolean;
  opcode: number;
  masked: boolean;
  /** The 4-byte masking key, or undefined for an unmasked frame. */
  maskKey: Uint8Array | undefined;
  payloadLength: number;
  headerLength: number;
};

/** The data message being received (RFC 6455 §5.4). Reused like FrameHeader. */
export type MessageInfo = {
  /** OPCODE.TEXT or OPCODE.BINARY, from the first frame. */
  opcode: number;
  /** Frames so far, the first one included. */
  fragments: number;
  /** Payload bytes declared so far (still compressed when `compressed`). */
  size: number;
  /** RSV1 on the first frame: permessage-deflate (RFC 7692 §6). */
  compressed: boolean;
};

/** A copy of a header that outlives the decoder's callbacks. */
export function cloneFrameHeader(h: Readonly<FrameHeader>): FrameHeader {
  return { ...h, maskKey: h.maskKey === undefined ? undefined : h.maskKey.slice() };
}

/** Whether an opcode is a control opcode, reserved ones included (RFC 6455 §5.5: the high bit of the opcode). */
export function isControlOpcode(opcode: number): boolean {
  return (opcode & 0x8) !== 0;
}
