// The observation points of wsgate, as node:diagnostics_channel channels (undici's style). Core code publishes
// and builds an event only when a channel has subscribers; the traffic log (and later the inspector) subscribe.
import diagnosticsChannel from 'node:diagnostics_channel';

/**
 * Header fields in wire order, [name, value] — the shape of http/head.ts's HeaderPairs, spelled out here because
 * the root layer imports nothing above it.
 */
type HeaderPairs = [name: string, value: string][];

export type Direction = 'toUpstream' | 'toClient';

export type TapLevel = 'off' | 'meta' | 'frames' | 'payload';

type Base = { conn: string; route: string; time: string };

/** A WebSocket connection was joined after a 101: the handshake as received and as forwarded. */
export type WsOpenEvent = Base & {
  type: 'open';
  upstream: string;
  path: string;
  client: string | undefined;
  protocol: string | undefined;
  extensions: string | undefined;
  tap: TapLevel;
  handshakeMs: number;
  /** Headers as the client sent them (secrets redacted). */
  request: HeaderPairs;
  /** Headers as wsgate forwarded them to the upstream (secrets redacted): the difference is what the proxy changed. */
  forwarded: HeaderPairs;
  /** The upstream's 101 headers as relayed to the client. */
  response: HeaderPairs;
};

export type WsFrameEvent = Base & {
  type: 'frame';
  dir: Direction;
  opcode: string;
  fin: boolean;
  rsv1: boolean;
  masked: boolean;
  length: number;
};

export type WsMessageEvent = Base & {
  type: 'message';
  dir: Direction;
  /** text, binary, ping, pong or close */
  kind: string;
  /** Bytes on the wire (compressed size when compressed). */
  size: number;
  fragments: number;
  compressed: boolean;
  /** Decompressed size, when a compressed message was decoded. */
  decodedSize?: number;
  /** text: UTF-8 (possibly cut); binary: hex. Only at tap level payload. */
  preview?: string;
  truncated?: boolean;
  /** Why a preview is missing or partial, e.g. a deflate bomb. */
  note?: string;
  /** For pongs that answer a ping seen earlier in the other direction. */
  rttMs?: number;
  /** For close frames. */
  code?: number;
  reason?: string;
};

export type WsViolationEvent = Base & {
  type: 'violation';
  dir: Direction;
  code: string;
  rule: string;
  closeCode: number;
  message: string;
  /** For a broken limit: its config key, e.g. "limits.maxFrameBytes". */
  limit?: string;
};

export type WsEndEvent = Base & {
  type: 'end';
  upstream: string;
  protocol: string | undefined;
  extensions: string | undefined;
  durationMs: number;
  /** Who ended the connection first: client, upstream or wsgate. */
  endedBy: string;
  /** close (a close frame), fin, rst, error, idle, shutdown or limit. */
  how: string;
  /** A termination code in the spirit of HAProxy's: who, then how, e.g. "CC" client close frame, "UR" upstream reset. */
  termination: string;
  /** The close code a client would report: the one in the first close frame, or 1006 when none was seen. */
  closeCode: number;
  closeReason?: string;
  clean: boolean;
  detail?: string;
  toUpstream: { frames: number; messages: number; bytes: number };
  toClient: { frames: number; messages: number; bytes: number };
};

export type WsEvent = WsOpenEvent | WsFrameEvent | WsMessageEvent | WsViolationEvent | WsEndEvent;

export const CHANNELS = {
  /** Every WebSocket event from the tap, in order per connection. */
  ws: diagnosticsChannel.channel('wsgate:ws'),
} as const;

export function publishWs(event: WsEvent): void {
  CHANNELS.ws.publish(event);
}
