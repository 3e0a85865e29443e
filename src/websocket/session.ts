// One WebSocket connection after its 101: joins the sockets, taps the frames at the route's level, reports the
// open and the end (who ended it, how, with which close code), and knows how to end itself at frame boundaries
// with a Close to both sides: 1001 on shutdown, or a violation's close code (1002, 1007, 1008, 1009) when
// tap.onViolation is "close".
import { randomBytes } from 'node:crypto';
import type net from 'node:net';
import type { Direction, WsEvent } from '../events.ts';
import type { HeaderPairs } from '../http/head.ts';
import type { RuleSet } from '../rules/rule-set.ts';
import type { ConnectionFaults, Injection } from '../rules/types.ts';
import { otherExtensionAgreed, parseDeflateResponse } from './deflate.ts';
import { encodeClose } from './encoder.ts';
import { type EndCause, joinSockets } from './joiner.ts';
import type { KeepaliveSettings } from './keepalive.ts';
import { createLinkShaper, hasLinkFaults, type LinkShaper } from './link-shaper.ts';
import { ConnectionObserver, LIMIT_KEYS, type TapSettings } from './observer.ts';
import { PassthroughControl } from './passthrough-control.ts';
import type { HeldMessage, HoldDecision, RuntimeHold } from './relay-hold.ts';
import {
  checkClose,
  closeReasonOf,
  describeEnd,
  endEvent,
  openEvent,
  type SentClose,
  violationDetail,
} from './session-report.ts';

/** What a session's tap is set to: the observer's settings (level, previews, limits, onViolation). */
export type SessionTap = TapSettings;

/** The answer to a session control call: done (or queued), or why it cannot be. */
export type ControlResult = { ok: true } | { ok: false; reason: string };

/** A message the admin API puts into a live connection. */
export type ControlMessage = { type: 'text' | 'binary'; data: Buffer };

/** What a listener holds for each live connection. */
export type LiveSession = {
  /** The connection's id (w…). */
  readonly conn: string;
  /** Passthrough (byte for byte, tapped) or relay (terminated for rules). */
  readonly mode: 'passthrough' | 'relay';
  done: Promise<void>;
  /**
   * Sends a message to one side: on passthrough at the next message boundary of that direction (uncompressed,
   * masked toward the server), on the relay in order with what it sends. Queued is ok; a closing side is not.
   */
  send(to: 'client' | 'server', message: ControlMessage): ControlResult;
  /** Sends a Close with this code and reason to one side or both, and completes the closing handshake. */
  close(code: number, reason: string, to: 'client' | 'server' | 'both'): ControlResult;

  /** Starts a closing handshake with both sides (Close 1001 between frames); the caller still bounds it in time. */
  /** Close 1001 to both peers, with `reason` (default: wsgate is shutting down). */
  goingAway(reason?: string): void;
  /** Ends both sockets now. */
  terminate(how: EndCause['how'], detail?: string): void;
  /** The messages the hold action holds (relay only: a passthrough connection cannot hold). */
  held?(): HeldMessage[];
  /** Forwards (with new data when given) or drops a held message. */
  release?(id: string, decision: HoldDecision): ControlResult;
  /** Adds (or with on: false removes) a hold on one direction of this connection from now on. */
  holdRule?(rule: RuntimeHold): ControlResult;
};

export type SessionInfo = {
  conn: string;
  route: string;
  upstream: string;
  /** The server of an upstream with several (upstreams[].servers), as an origin. */
  server?: string | undefined;
  path: string;
  client: string | undefined;
  /** The direct peer (a trusted proxy) when `client` is the one it named. */
  peer?: string | undefined;
  handshakeMs: number;
  /** events.ts WsOpenEvent.dialMs */
  dialMs?: number | undefined;
  /** events.ts WsOpenEvent.tlsMs */
  tlsMs?: number | undefined;
  /** events.ts WsOpenEvent.spare */
  spare?: boolean | undefined;
  request: HeaderPairs;
  forwarded: HeaderPairs;
  response: HeaderPairs;
  protocol: string | undefined;
  extensions: string | undefined;
};

export type SessionOptions = {
  idleTimeout: number;
  /** Also bounds how long closing for a violation may take (a peer that never reaches a frame boundary). */
  halfCloseLinger: number;
  tap: SessionTap;
  emit: (event: WsEvent) => void;
  /** Connection faults a rule asked for (idleCut, throttle, latency, …), carried out by websocket/link-shaper.ts. */
  faults?: ConnectionFaults | undefined;
  /** How much a delaying fault may hold per direction (limits.maxBufferedBytes). */
  maxBufferedBytes?: number | undefined;
  /** wsgate's own pings when the connection is silent (websocket/keepalive.ts). */
  keepalive?: KeepaliveSettings | undefined;
  /**
   * The rules' injections at open and `every:` of a connection that is not relayed, inserted at message boundaries
   * (passthrough-control.ts). The relay sends its connection's own (ConnectionRules.injections) and ignores these.
   */
  injections?: readonly Injection[] | undefined;
  /** The running config's rules: the relay hands a reload's new `live: true` definitions to its connection. */
  ruleSource?: (() => RuleSet | undefined) | undefined;
};

const GOING_AWAY = 1001;
const NO_BYTES = Buffer.alloc(0);
const SHUTDOWN_REASON = 'wsgate is shutting down';

/**
 * Runs the connection until both sockets are closed. `early` holds frame bytes that arrived with the handshake
 * (client bytes after its request head, upstream bytes after the 101); they were already forwarded and are only
 * shown to the tap, except the upstream's when a link fault shapes the connection (hasLinkFaults): the shaper
 * writes those, so that a halfOpen or latency from the first byte holds them back too.
 */
export function startSession(
  client: net.Socket,
  upstream: net.Socket,
  info: SessionInfo,
  options: SessionOptions,
  early: { toUpstream: Buffer; toClient: Buffer },
): LiveSession {
  const { tap, emit } = options;
  emit(openEvent(info, tap.level));
  // Only the open line shows the header lists: an idle connection should not hold three of them until it ends.
  info = { ...info, request: [], forwarded: [], response: [] };
  // Even at tap "off" the headers are decoded: it costs a few ns per frame and gives shutdown its frame boundaries,
  // the end line its close code and the limits their numbers; "off" only means nothing is reported in between.
  const observer = new ConnectionObserver(
    { conn: info.conn, route: info.route },
    {
      level: tap.level,
      previewBytes: tap.previewBytes,
      maxDecodedBytes: tap.maxDecodedBytes,
      redactText: tap.redactText,
      storeBytes: tap.storeBytes,
      framesActive: tap.framesActive,
      // Without it the observer builds every frame and message event even when the log level filters them all.
      active: tap.active,
      onViolation: tap.onViolation,
      limits: tap.limits,
      // Keepalive leaves the pongs that answer its pings out of the stream, so each chunk is judged before it leaves.
      gated: (options.keepalive?.intervalMs ?? 0) > 0,
    },
    parseDeflateResponse(info.extensions),
    emit,
    otherExtensionAgreed(info.extensions),
  );
  if (early.toUpstream.length > 0) observer.push('toUpstream', early.toUpstream);
  if (early.toClient.length > 0) observer.push('toClient', early.toClient);
  // Only their sizes are needed later (the end line): the closures below must not keep the bytes alive.
  const earlyBytes = { toUpstream: early.toUpstream.length, toClient: early.toClient.length };
  // Close mode: each chunk is judged before it leaves (observer.forward); the join hands onChunk only the chunks of
  // a halted direction then, which the observer still reads for the peer's close frame.
  let judged: Buffer | undefined;
  const maxBuffered = options.maxBufferedBytes ?? 4 * 1024 * 1024;
  const socketToward = (direction: Direction): net.Socket => (direction === 'toUpstream' ? upstream : client);
  // Connection faults: the shaper writes each direction's bytes (late, slow, in bursts or not at all) and may end
  // the connection; the end line then names the rule (how "fault").
  const shaper: LinkShaper | undefined = hasLinkFaults(options.faults)
    ? createLinkShaper(options.faults, {
        client,
        upstream,
        maxBufferedBytes: maxBuffered,
        onEnd: (end) => joined.markCause({ by: 'wsgate', how: 'fault', detail: end.detail }),
      })
    : undefined;
  if (shaper !== undefined && early.toClient.length > 0) shaper.sink('toClient').write(early.toClient);
  const observe: (direction: Direction, chunk: Buffer) => void = observer.gated
    ? (direction, chunk) => {
        if (chunk !== judged) observer.push(direction, chunk);
      }
    : (direction, chunk) => observer.push(direction, chunk);
  const joined = joinSockets(client, upstream, {
    idleTimeout: options.idleTimeout,
    halfCloseLinger: options.halfCloseLinger,
    onChunk:
      shaper !== undefined && options.faults?.resetAfter !== undefined
        ? (direction, chunk) => {
            observe(direction, chunk);
            shaper.messagesSeen(observer.counters('toUpstream').messages + observer.counters('toClient').messages);
          }
        : observe,
    forward: observer.gated
      ? (direction, chunk, to) => {
          judged = chunk;
          return observer.forward(direction, chunk, shaper?.sink(direction) ?? to);
        }
      : shaper !== undefined
        ? (direction, chunk) => shaper.sink(direction).write(chunk)
        : undefined,
    endOnward: shaper === undefined ? undefined : (direction) => shaper.endOnward(direction),
  });

  let closing: { code: number; reason: string; endAfterSend: boolean } | undefined;
  let sent: SentClose | undefined;
  // Messages the admin API sends, the rules' injections and keepalive pings wait for a boundary of their direction
  // (passthrough-control.ts).
  const halted = { toUpstream: false, toClient: false };
  const control = new PassthroughControl(
    observer,
    (direction) => (halted[direction] ? undefined : (shaper?.sink(direction) ?? socketToward(direction))),
    {
      keepalive: options.keepalive,
      injections: options.injections,
      // A receiver that does not read: what its socket (and a fault's lane) holds reached limits.maxBufferedBytes.
      full: (direction) => (shaper?.full(direction) ?? false) || socketToward(direction).writableLength >= maxBuffered,
    },
  );
  observer.afterChunk = (direction) => control.after(direction);
  let deadline: NodeJS.Timeout | undefined;

  const done = joined.done.then((stats) => {
    if (deadline) clearTimeout(deadline);
    shaper?.stop();
    control.stop();
    const end = describeEnd(stats, observer, sent);
    const keepalive = control.keepaliveCounts;
    emit(
      endEvent(info, {
        durationMs: stats.durationMs,
        ...end,
        // Frames that arrived with the handshake were forwarded before the join started counting.
        toUpstream: { ...observer.counters('toUpstream'), bytes: stats.bytesToUpstream + earlyBytes.toUpstream },
        toClient: { ...observer.counters('toClient'), bytes: stats.bytesToClient + earlyBytes.toClient },
        ...(keepalive === undefined ? {} : { keepalive }),
      }),
    );
  });

  /**
   * Sends a Close with `code` to both sides, each as soon as what was forwarded to it ends on a frame boundary
   * (masked toward the upstream), and forwards nothing more in that direction. On shutdown both sockets end once
   * both peers have answered; for a violation each socket ends right after its Close (the peer that broke the rule
   * may never answer), and halfCloseLinger bounds the whole.
   */
  const closeBoth = (code: number, reason: string, cause: EndCause, endAfterSend: boolean, only?: Direction) => {
    if (closing !== undefined) return;
    closing = { code, reason, endAfterSend };
    control.stop();
    // What a fault still holds goes out first: the Close must follow the bytes read before it.
    shaper?.release();
    joined.markCause(cause);
    const pending = new Set<Direction>();
    const send = (direction: Direction) => {
      if (!pending.delete(direction)) return;
      const receiver = socketToward(direction);
      // The peer may have sent its own close in the very chunk that ended its frame: then the receiver already has
      // a close frame, and a second one would break the closing handshake.
      if (observer.closeSeen(direction) === undefined) {
        // A receiver left mid-frame (by a frame that began in the bytes that came with the 101, or whose framing
        // is lost) cannot read a Close: it only gets FIN.
        // RFC 6455 §5.3: frames toward a server are masked, frames toward a client are not.
        const frame = !observer.atBoundary(direction)
          ? NO_BYTES
          : direction === 'toUpstream'
            ? encodeClose(code, reason, randomBytes(4))
            : encodeClose(code, reason);
        halted[direction] = true;
        joined.haltAndSend(direction, frame);
      } else if (endAfterSend) {
        halted[direction] = true;
        joined.haltAndSend(direction, NO_BYTES);
      }
      if (endAfterSend && !receiver.destroyed) receiver.end();
    };
    for (const direction of ['toClient', 'toUpstream'] as const) {
      // Closing one side (the admin API): the other hears of it from that side's answer, passed on as usual.
      if (only !== undefined && direction !== only) continue;
      // A side that already sent its close frame is answered by the other peer; do not send a second one.
      if (observer.closeSeen(direction) === undefined || endAfterSend) pending.add(direction);
    }
    const finishIfAnswered = () => {
      if (endAfterSend) return;
      if (observer.closeSeen('toUpstream') && observer.closeSeen('toClient') && pending.size === 0) joined.endBoth();
    };
    observer.onBoundary = (direction) => {
      send(direction);
      finishIfAnswered();
    };
    observer.onClose = finishIfAnswered;
    for (const direction of [...pending]) {
      if (observer.atBoundary(direction) || (endAfterSend && !observer.canReachBoundary(direction))) send(direction);
      else observer.requestCut(direction);
    }
    finishIfAnswered();
  };

  if (observer.closes) {
    observer.watchViolations((v) => {
      // Already closing (shutdown): that closing handshake goes on.
      if (closing !== undefined) return;
      const how = LIMIT_KEYS[v.violation.code] === undefined ? 'violation' : 'limit';
      const detail = violationDetail(v);
      sent = { code: v.violation.closeCode, reason: closeReasonOf(v.violation.message) };
      closeBoth(sent.code, sent.reason, { by: 'wsgate', how, detail }, true);
      // A peer that never reaches a frame boundary, or never closes its side, is cut off.
      deadline = setTimeout(() => joined.terminate(how, detail), options.halfCloseLinger);
      deadline.unref();
    });
  }

  return {
    conn: info.conn,
    mode: 'passthrough',
    done,
    terminate: joined.terminate,
    goingAway(reason = SHUTDOWN_REASON) {
      closeBoth(GOING_AWAY, reason, { by: 'wsgate', how: 'shutdown' }, false);
    },
    send: (to, message) => control.send(to, message, closing !== undefined),
    close(code, reason, to) {
      const problem = checkClose(code, reason);
      if (problem !== undefined) return { ok: false, reason: problem };
      if (closing !== undefined) return { ok: false, reason: 'the connection is already closing' };
      sent = { code, reason };
      const detail = `close ${code}${reason ? ` ${reason}` : ''} to ${to}`;
      const only = to === 'both' ? undefined : to === 'client' ? 'toClient' : 'toUpstream';
      closeBoth(code, reason, { by: 'wsgate', how: 'close', detail }, false, only);
      deadline = setTimeout(() => joined.terminate('close', detail), options.halfCloseLinger);
      deadline.unref();
      return { ok: true };
    },
  };
}
