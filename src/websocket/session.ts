// One WebSocket connection after its 101: joins the sockets, taps the frames at the route's level, reports the
// open and the end (who ended it, how, with which close code), and knows how to end itself gracefully on
// shutdown by sending Close 1001 to both sides between frames.
import { randomBytes } from 'node:crypto';
import type net from 'node:net';
import type { Direction, TapLevel, WsEndEvent, WsEvent } from '../events.ts';
import type { HeaderPairs } from '../http/head.ts';
import { parseDeflateResponse } from './deflate.ts';
import { encodeClose } from './encoder.ts';
import { type EndCause, type JoinStats, joinSockets } from './joiner.ts';
import { ConnectionObserver, isoNow } from './observer.ts';

export type SessionTap = {
  level: TapLevel;
  previewBytes: number;
  maxDecodedBytes: number;
  redactText?: ((text: string) => string) | undefined;
  active?: (() => boolean) | undefined;
};

/** What a listener holds for each live connection. */
export type LiveSession = {
  done: Promise<void>;
  /** Starts a closing handshake with both sides (Close 1001 between frames); the caller still bounds it in time. */
  goingAway(): void;
  /** Ends both sockets now. */
  terminate(how: EndCause['how'], detail?: string): void;
};

export type SessionInfo = {
  conn: string;
  route: string;
  upstream: string;
  path: string;
  client: string | undefined;
  handshakeMs: number;
  request: HeaderPairs;
  forwarded: HeaderPairs;
  response: HeaderPairs;
  protocol: string | undefined;
  extensions: string | undefined;
};

export type SessionOptions = {
  idleTimeout: number;
  halfCloseLinger: number;
  tap: SessionTap;
  emit: (event: WsEvent) => void;
};

const GOING_AWAY = 1001;
const SHUTDOWN_REASON = 'wsgate is shutting down';

const WHO: Record<EndCause['by'], string> = { client: 'C', upstream: 'U', wsgate: 'W' };
const HOW: Record<string, string> = {
  close: 'C',
  fin: 'F',
  rst: 'R',
  error: 'E',
  idle: 'I',
  shutdown: 'S',
  limit: 'L',
};

/**
 * Who ended the connection and how. A close frame says more than the TCP teardown that follows it, so the first
 * close frame seen wins over FIN/RST, except when wsgate itself ended the connection (shutdown, idle, limits).
 */
export function describeEnd(
  stats: JoinStats,
  observer: ConnectionObserver | undefined,
): Pick<WsEndEvent, 'endedBy' | 'how' | 'termination' | 'closeCode' | 'closeReason' | 'clean' | 'detail'> {
  const first = observer?.firstClose;
  let by = stats.cause.by;
  let how: string = stats.cause.how;
  let closeCode = 1006;
  let closeReason: string | undefined;
  if (first !== undefined) {
    const seen = observer!.closeSeen(first)!;
    closeCode = seen.code ?? 1005;
    closeReason = seen.reason || undefined;
    if (stats.cause.by !== 'wsgate') {
      by = first === 'toUpstream' ? 'client' : 'upstream';
      how = 'close';
    }
  }
  const clean =
    observer !== undefined &&
    observer.closeSeen('toUpstream') !== undefined &&
    observer.closeSeen('toClient') !== undefined;
  const result: ReturnType<typeof describeEnd> = {
    endedBy: by,
    how,
    termination: `${WHO[by]}${HOW[how] ?? '?'}`,
    closeCode,
    clean,
  };
  if (closeReason !== undefined) result.closeReason = closeReason;
  if (stats.cause.detail !== undefined) result.detail = stats.cause.detail;
  return result;
}

/**
 * Runs the connection until both sockets are closed. `early` holds frame bytes that arrived with the handshake
 * (client bytes after its request head, upstream bytes after the 101); they were already forwarded and are only
 * shown to the tap.
 */
export function startSession(
  client: net.Socket,
  upstream: net.Socket,
  info: SessionInfo,
  options: SessionOptions,
  early: { toUpstream: Buffer; toClient: Buffer },
): LiveSession {
  const { tap, emit } = options;
  emit({
    type: 'open',
    conn: info.conn,
    route: info.route,
    time: isoNow(),
    upstream: info.upstream,
    path: info.path,
    client: info.client,
    protocol: info.protocol,
    extensions: info.extensions,
    tap: tap.level,
    handshakeMs: info.handshakeMs,
    request: info.request,
    forwarded: info.forwarded,
    response: info.response,
  });
  // Even at tap "off" the headers are decoded: it costs a few ns per frame and gives shutdown its frame boundaries
  // and the end line its close code; "off" only means nothing is reported in between.
  const observer = new ConnectionObserver(
    { conn: info.conn, route: info.route },
    {
      level: tap.level,
      previewBytes: tap.previewBytes,
      maxDecodedBytes: tap.maxDecodedBytes,
      redactText: tap.redactText,
    },
    parseDeflateResponse(info.extensions),
    emit,
  );
  if (early.toUpstream.length > 0) observer.push('toUpstream', early.toUpstream);
  if (early.toClient.length > 0) observer.push('toClient', early.toClient);
  const joined = joinSockets(client, upstream, {
    idleTimeout: options.idleTimeout,
    halfCloseLinger: options.halfCloseLinger,
    onChunk: (direction, chunk) => observer.push(direction, chunk),
  });

  const done = joined.done.then((stats) => {
    const end = describeEnd(stats, observer);
    emit({
      type: 'end',
      conn: info.conn,
      route: info.route,
      time: isoNow(),
      upstream: info.upstream,
      protocol: info.protocol,
      extensions: info.extensions,
      durationMs: stats.durationMs,
      ...end,
      // Frames that arrived with the handshake were forwarded before the join started counting.
      toUpstream: { ...observer.counters('toUpstream'), bytes: stats.bytesToUpstream + early.toUpstream.length },
      toClient: { ...observer.counters('toClient'), bytes: stats.bytesToClient + early.toClient.length },
    });
  });

  let closing = false;
  return {
    done,
    terminate: joined.terminate,
    goingAway() {
      if (closing) return;
      closing = true;
      joined.markCause({ by: 'wsgate', how: 'shutdown' });
      const pending = new Set<Direction>();
      const send = (direction: Direction) => {
        if (!pending.delete(direction)) return;
        // The peer may have sent its own close in the very chunk that ended its frame: then the receiver already has
        // a close frame, and a second one would break the closing handshake.
        if (observer.closeSeen(direction) !== undefined) return;
        // RFC 6455 §5.3: frames toward a server are masked, frames toward a client are not.
        const frame =
          direction === 'toUpstream'
            ? encodeClose(GOING_AWAY, SHUTDOWN_REASON, randomBytes(4))
            : encodeClose(GOING_AWAY, SHUTDOWN_REASON);
        joined.haltAndSend(direction, frame);
      };
      for (const direction of ['toClient', 'toUpstream'] as const) {
        // A side that already sent its close frame is answered by the other peer; do not send a second one.
        if (observer.closeSeen(direction) === undefined) pending.add(direction);
      }
      const finishIfAnswered = () => {
        if (observer.closeSeen('toUpstream') && observer.closeSeen('toClient') && pending.size === 0) joined.endBoth();
      };
      observer.onBoundary = (direction) => {
        send(direction);
        finishIfAnswered();
      };
      observer.onClose = finishIfAnswered;
      for (const direction of [...pending]) if (observer.atBoundary(direction)) send(direction);
      finishIfAnswered();
    },
  };
}
