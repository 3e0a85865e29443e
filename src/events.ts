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

/** How long a handshake took, and how much of it until the upstream connection was made. */
type HandshakeTiming = {
  handshakeMs: number;
  /**
   * Milliseconds from the handshake's arrival until the upstream connection was made: routing, DNS, connect, TLS, an
   * upstream proxy's CONNECT, every failover attempt. The rest of handshakeMs is the upstream's answer. Absent when
   * no connection was made.
   */
  dialMs?: number;
  /** Milliseconds of wsgate's TLS handshake with the upstream (wss://), part of dialMs. Absent without one. */
  tlsMs?: number;
  /**
   * The handshake ended while its upstream connection was being made (the dial failed, or was given up when the
   * client left): all of handshakeMs went to the dial. Failed handshakes only.
   */
  endedInDial?: true;
  /**
   * The upstream connection was a spare (upstreams[].preconnect): opened before the handshake arrived, so nothing
   * was dialed for it (dialMs is routing only). Absent otherwise.
   */
  spare?: true;
};

/** A WebSocket connection was joined after a 101: the handshake as received and as forwarded. */
export type WsOpenEvent = Base &
  HandshakeTiming & {
    type: 'open';
    upstream: string;
    /** Which server of an upstream with several (upstreams[].servers) took the connection, as an origin. */
    server?: string;
    path: string;
    client: string | undefined;
    /** The direct peer when it is a trusted proxy (trustForwarded) and `client` the one its X-Forwarded-For names. */
    peer?: string;
    protocol: string | undefined;
    extensions: string | undefined;
    tap: TapLevel;
    /** Headers as the client sent them (secrets redacted). */
    request: HeaderPairs;
    /** Headers as wsgate forwarded them to the upstream (secrets redacted): the difference is what the proxy changed. */
    forwarded: HeaderPairs;
    /** The upstream's 101 headers as relayed to the client. */
    response: HeaderPairs;
    /** The connection is relayed (terminated and re-encoded for rules) rather than passed through byte for byte. */
    relay?: boolean;
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
  /** "wsgate" for a message wsgate itself sent (admin API send, rule inject, keepalive ping); absent for the peers'. */
  origin?: 'wsgate';
  /**
   * The whole payload for the traffic store (tap payload with the inspector on; see attachMessageData): set as a
   * non-enumerable property, so log lines, JSON and IPC never carry it.
   */
  readonly data?: MessageData;
};

/** A message's payload as the store keeps it: bytes (decoded when compressed), or redacted text; maybe cut. */
export type MessageData = { bytes: Uint8Array | string; truncated: boolean };

/** Gives a message event its whole payload without making it part of what is logged or serialised. */
export function attachMessageData(event: WsMessageEvent, data: MessageData): void {
  Object.defineProperty(event, 'data', { value: data, enumerable: false });
}

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
  /** Keepalive pings wsgate sent and the pongs that answered them (consumed, not forwarded). */
  keepalive?: { pings: number; pongs: number };
};

/** One rule acting on one message (or a connection): names the rule and what it did. */
export type WsRuleEvent = Base & {
  type: 'rule';
  dir: Direction;
  rule: string;
  /** The action or fault that acted: replace, setJson, drop, delay, inject, close, mark, … */
  action: string;
  /** What it did, for people. */
  detail: string;
  /** A mark action's tag. */
  mark?: string;
  /** The hit acted on the message event just before it in this direction (the store links it by that one's seq). */
  ofMessage?: boolean;
  /** The hold action (action hold, forward, edit, drop or timeout): which held message, for the admin API. */
  held?: WsHeldInfo;
};

/** A held message as rule events describe it: no data beyond the tap's preview (the admin API asks the relay). */
export type WsHeldInfo = {
  id: string;
  kind: string;
  size: number;
  /** ISO times. */
  since: string;
  deadline: string;
  onTimeout: 'forward' | 'drop';
  /** As a message event's: at tap "payload" only, redacted, cut to tap.previewBytes (hex for binary). */
  preview?: string;
  truncated?: boolean;
};

/**
 * A WebSocket handshake that did not open: what the client sent, what went on to the upstream and what came back, or
 * why nothing did. The inspector lists it beside the connections that opened. A handshake refused before a route
 * was chosen (no route, a denied Origin, the front's checks and rates) has no route or upstream; it names its
 * listener instead.
 */
export type WsFailedEvent = Omit<Base, 'route'> &
  HandshakeTiming & {
    type: 'failed';
    route?: string;
    listener?: string;
    upstream?: string;
    /** The server of a pool last dialed; absent when none was (all drained, or refused before a dial). */
    server?: string;
    path: string;
    client: string | undefined;
    peer?: string;
    /** The route's tap level; absent before a route was chosen. */
    tap?: TapLevel;
    /**
     * The status the client was answered with: the upstream's own, or wsgate's (then `code` says why); 499 when the
     * client left before an answer (WSG_CLIENT_GONE, nginx's status for it).
     */
    status: number;
    code?: string;
    reason: string;
    request: HeaderPairs;
    /** Empty when nothing was sent to the upstream. */
    forwarded: HeaderPairs;
    /** The upstream's answer; empty when there was none. */
    response: HeaderPairs;
  };

export type WsEvent =
  | WsOpenEvent
  | WsFrameEvent
  | WsMessageEvent
  | WsViolationEvent
  | WsRuleEvent
  | WsEndEvent
  | WsFailedEvent;

export const CHANNELS = {
  /** Every WebSocket event from the tap, in order per connection. */
  ws: diagnosticsChannel.channel('wsgate:ws'),
} as const;

export function publishWs(event: WsEvent): void {
  CHANNELS.ws.publish(event);
}

// How a WebSocket handshake ended, reported where its answer is written (the front's error writer, the Upgrade
// forwarder's relay of a refusal or of the 101) to whoever watches that client socket: the front of the instance
// that took the upgrade registers its observer per socket, so several instances in one process never mix. A
// socket carries at most one handshake; the first report wins and later ones (a writer reached twice) are ignored.
const handshakeWatchers = new WeakMap<object, (result: string) => void>();

/** Called by the front when it takes an upgrade: `report` gets the handshake's result once. */
export function watchHandshake(socket: object, report: (result: string) => void): void {
  handshakeWatchers.set(socket, report);
}

/** "101", the upstream's refusal status, or wsgate's error code; a no-op for a socket nobody watches. */
export function handshakeDone(socket: object, result: string): void {
  const report = handshakeWatchers.get(socket);
  if (report === undefined) return;
  handshakeWatchers.delete(socket);
  report(result);
}
