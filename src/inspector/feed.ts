// The live feed of the traffic store: connection and message events as Server-Sent Events (GET /api/events) and
// over a WebSocket (/api/events/ws), with a resume cursor. Every event carries the store's sequence number (the
// SSE `id:`); a client that reconnects with Last-Event-ID or ?since=SEQ first gets what it missed from the
// store's ring, then the live events, with nothing lost or repeated as long as the ring still holds them (a
// `gap` event says how many it no longer holds; `reset: true` on it when the cursor is from before a restart).
// Events are written once per tick per client, and a client that falls too far behind (4 MiB unsent) is
// disconnected rather than buffered without bound: it resumes from its cursor. ?conn=ID limits the feed to one connection.
import type http from 'node:http';
import { createRequire } from 'node:module';
import type { Duplex } from 'node:stream';
import type * as Ws from 'ws';
import type { FeedEvent, TrafficStore } from '../traffic/store.ts';
import { badRequest, SAFE_HEADERS } from './admin-http.ts';
import type { AdminHandler, AdminRequestContext, AdminUpgradeHandler } from './admin-server.ts';

const MAX_UNSENT = 4 * 1024 * 1024;
const HEARTBEAT_MS = 15_000;

function connOf(event: FeedEvent): string {
  switch (event.type) {
    case 'message':
      return event.message.conn;
    case 'open':
    case 'end':
      return event.connection.id;
    default:
      return event.conn;
  }
}

/** The cursor: ?since= wins over Last-Event-ID; none means "from now". */
export function feedCursor(req: http.IncomingMessage, url: URL, store: TrafficStore): number {
  const raw = url.searchParams.get('since') ?? (req.headers['last-event-id'] as string | undefined);
  if (raw === undefined || raw === null || raw === '') return store.seq;
  const n = Number(raw);
  if (!Number.isSafeInteger(n) || n < 0) throw badRequest(`the resume cursor must be a sequence number, not ${raw}`);
  return n;
}

/**
 * Replays what came after `since`, then follows the store live; `send` gets batches of events (one per tick).
 * Returns the unsubscribe function.
 */
function follow(
  store: TrafficStore,
  since: number,
  conn: string | undefined,
  send: (events: FeedEvent[], missed: number, reset?: boolean) => void,
): () => void {
  const wanted = (e: FeedEvent) => conn === undefined || connOf(e) === conn;
  // A cursor past the last seq is from another store: the wsgate before a restart (its seqs began again at 1), or
  // another process. Resuming from it would skip this store's events up to that number; the client is told to
  // forget what it holds (`reset`) and gets everything the ring holds instead.
  const reset = since > store.seq;
  const { events, missed } = store.replay(reset ? 0 : since);
  const first = events.filter(wanted);
  if (first.length > 0 || missed > 0 || reset) send(first, missed, reset);
  let pending: FeedEvent[] = [];
  let scheduled = false;
  return store.subscribe((event) => {
    if (!wanted(event)) return;
    pending.push(event);
    if (scheduled) return;
    scheduled = true;
    setImmediate(() => {
      scheduled = false;
      const batch = pending;
      pending = [];
      send(batch, 0);
    });
  });
}

export function sseHandler(store: TrafficStore): AdminHandler {
  return {
    method: 'GET',
    path: '/api/events',
    handle(req: http.IncomingMessage, res: http.ServerResponse, ctx: AdminRequestContext) {
      const since = feedCursor(req, ctx.url, store);
      const conn = ctx.url.searchParams.get('conn') ?? undefined;
      res.writeHead(200, {
        ...SAFE_HEADERS,
        'content-type': 'text/event-stream; charset=utf-8',
        'x-accel-buffering': 'no',
      });
      res.socket?.setNoDelay(true);
      // retry: how soon an EventSource reconnects (it sends Last-Event-ID then).
      res.write(`retry: 1000\n: wsgate feed from ${since}\n\n`);
      let stop: (() => void) | undefined;
      const end = () => {
        stop?.();
        stop = undefined;
        clearInterval(heartbeat);
      };
      const heartbeat = setInterval(() => res.write(': keep-alive\n\n'), HEARTBEAT_MS);
      heartbeat.unref();
      stop = follow(store, since, conn, (events, missed, reset) => {
        const gap = reset ? { missed, reset } : { missed };
        let text = missed > 0 || reset ? `event: gap\ndata: ${JSON.stringify(gap)}\n\n` : '';
        for (const e of events) text += `id: ${e.seq}\nevent: ${e.type}\ndata: ${JSON.stringify(e)}\n\n`;
        if (text === '') return;
        res.write(text);
        if (res.writableLength > MAX_UNSENT) {
          end();
          res.destroy();
        }
      });
      res.once('close', end);
    },
  };
}

export function wsFeedHandler(store: TrafficStore): AdminUpgradeHandler & { close(): void } {
  // Required here, when the admin API starts: `ws` stays out of the heap of a wsgate that serves none.
  const { WebSocketServer } = createRequire(import.meta.url)('ws') as typeof Ws;
  const wss = new WebSocketServer({ noServer: true, maxPayload: 64 * 1024, perMessageDeflate: false });
  return {
    path: '/api/events/ws',
    handle(req: http.IncomingMessage, socket: Duplex, head: Buffer, ctx: AdminRequestContext) {
      const since = feedCursor(req, ctx.url, store);
      const conn = ctx.url.searchParams.get('conn') ?? undefined;
      wss.handleUpgrade(req, socket, head, (ws) => {
        ws.on('error', () => ws.terminate());
        const stop = follow(store, since, conn, (events, missed, reset) => {
          if (ws.readyState !== ws.OPEN) return;
          if (reset) ws.send(JSON.stringify({ type: 'gap', missed, reset }));
          else if (missed > 0) ws.send(JSON.stringify({ type: 'gap', missed }));
          for (const e of events) ws.send(JSON.stringify(e));
          if (ws.bufferedAmount > MAX_UNSENT) ws.close(1013, 'feed client too slow; resume with ?since=');
        });
        ws.once('close', stop);
      });
    },
    close() {
      for (const client of wss.clients) client.terminate();
      wss.close();
    },
  };
}
