// The admin API's endpoints over the traffic store, the session file and the live sessions: listing and
// filtering connections, paging their messages (from memory, and from the session file for what memory
// evicted), send and close on a live connection, HAR export, the redacted config and reload. Each endpoint is an
// AdminHandler; the server (admin-server.ts) has already checked Host, token and Origin when they run.
import { WsgateError } from '../errors.ts';
import { harEntry } from '../traffic/har.ts';
import {
  type ConnectionFilter,
  type MessageQuery,
  type StoredMessage,
  summarize,
  type TrafficStore,
} from '../traffic/store.ts';
import type { SessionFile } from '../traffic/store-disk.ts';
import type { HeldMessage, HoldDecision, RuntimeHold } from '../websocket/relay-hold.ts';
import type { ControlMessage, ControlResult } from '../websocket/session.ts';
import { badRequest, closeCodeAndReason, conflict, notFound, readJson, sendJson } from './admin-http.ts';
import type { AdminHandler } from './admin-server.ts';
import { sendHarStream } from './har-stream.ts';

export type AdminContext = {
  store: TrafficStore;
  disk: SessionFile | undefined;
  /** The live session with this connection id, on any listener of this instance (or of a worker, see ControlTarget). */
  session(conn: string): ControlTarget | undefined;
  /** The running config as `wsgate check` prints it (secrets redacted). */
  config(): unknown;
  /** Re-reads the config file as SIGHUP does; undefined when wsgate runs without a file. */
  reload: (() => Promise<void>) | undefined;
  version: string;
};

const MAX_PAGE = 1000;
const MAX_CONNECTIONS_PAGE = 10_000;
const MAX_HAR_MESSAGES = 100_000;

function intParam(url: URL, name: string, fallback: number, max = Number.MAX_SAFE_INTEGER): number {
  const raw = url.searchParams.get(name);
  if (raw === null || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isSafeInteger(n) || n < 0) throw badRequest(`${name} must be a whole number ≥ 0, not ${raw}`);
  return Math.min(n, max);
}

/**
 * A page size: `limit` from 1 to `max`, `fallback` when absent. Out of range is a 400 rather than clamped: a script
 * asking for 0 or for more than a page gets told, not a page of another size.
 */
function limitParam(url: URL, fallback: number, max: number): number {
  const raw = url.searchParams.get('limit');
  const limit = raw === null || raw === '' ? fallback : Number(raw);
  if (!Number.isSafeInteger(limit) || limit < 1 || limit > max)
    throw badRequest(`limit must be a whole number from 1 to ${max}, not ${raw}`);
  return limit;
}

function oneOf<T extends string>(url: URL, name: string, values: readonly T[]): T | undefined {
  const raw = url.searchParams.get(name);
  if (raw === null || raw === '') return undefined;
  if (!(values as readonly string[]).includes(raw)) throw badRequest(`${name} must be one of ${values.join(', ')}`);
  return raw as T;
}

function sameDirection(d: 'toUpstream' | 'toServer' | 'toClient' | undefined): 'toUpstream' | 'toClient' | undefined {
  return d === 'toServer' ? 'toUpstream' : d;
}

function text(url: URL, name: string): string | undefined {
  const raw = url.searchParams.get(name);
  return raw === null || raw === '' ? undefined : raw;
}

type Page = {
  messages: StoredMessage[];
  more: boolean;
  source: 'memory' | 'disk';
};

/**
 * One page of a connection's messages: from the session file while the cursor is older than what memory still
 * holds, from memory after that. Undefined when neither knows the connection.
 */
async function messagePage(
  ctx: AdminContext,
  id: string,
  q: MessageQuery & { withData?: boolean },
): Promise<Page | undefined> {
  const memory = ctx.store.messages(id, q);
  const oldest = memory?.oldestSeq;
  const mayBeOnDisk = memory === undefined || oldest === undefined || q.after < oldest - 1;
  if (ctx.disk !== undefined && mayBeOnDisk) {
    const disk = await ctx.disk.query(id, { ...q, before: oldest });
    if (disk.messages.length > 0 || memory === undefined) {
      if (memory === undefined && disk.total === 0) return undefined;
      return {
        messages: disk.messages,
        more: disk.more || (memory?.messages.length ?? 0) > 0,
        source: 'disk',
      };
    }
  }
  if (memory === undefined) return undefined;
  return { messages: memory.messages, more: memory.more, source: 'memory' };
}

function messageQuery(url: URL): MessageQuery {
  return {
    after: intParam(url, 'after', 0),
    limit: limitParam(url, 100, MAX_PAGE),
    // Records say toUpstream; rules and the hold call say toServer: both name the same direction here.
    direction: sameDirection(oneOf(url, 'direction', ['toUpstream', 'toServer', 'toClient'] as const)),
    type: oneOf(url, 'type', ['text', 'binary', 'ping', 'pong', 'close'] as const),
    text: text(url, 'text'),
  };
}

/** Every message of one connection for a HAR: the session file's part, then memory's, bounded. */
async function allMessages(ctx: AdminContext, id: string): Promise<StoredMessage[]> {
  const out: StoredMessage[] = [];
  let after = 0;
  while (out.length < MAX_HAR_MESSAGES) {
    // withData: the session file's part carries the whole payloads too (memory's records have them already).
    const page = await messagePage(ctx, id, { after, limit: MAX_PAGE, withData: true });
    if (page === undefined || page.messages.length === 0) break;
    out.push(...page.messages);
    after = page.messages[page.messages.length - 1]!.seq;
    if (!page.more) break;
  }
  return out;
}

/**
 * What send and close act on: a LiveSession of this process, or, in the primary of `--workers N`, a connection a
 * worker holds, whose answer comes back over IPC (app/worker-hub.ts) — hence a result or a promise of one.
 */
export type ControlTarget = {
  send(to: 'client' | 'server', message: ControlMessage): ControlResult | Promise<ControlResult>;
  close(code: number, reason: string, to: 'client' | 'server' | 'both'): ControlResult | Promise<ControlResult>;
  /** The hold action (api-held.ts): a relayed connection's held messages with their data; absent when remote. */
  held?(): HeldMessage[];
  release?(id: string, decision: HoldDecision): ControlResult | Promise<ControlResult>;
  holdRule?(rule: RuntimeHold): ControlResult | Promise<ControlResult>;
};

/** The live session of a connection, or the reason there is none, as a 404 or 409. */
function liveSession(ctx: AdminContext, id: string): ControlTarget {
  const session = ctx.session(id);
  if (session !== undefined) return session;
  const stored = ctx.store.connection(id);
  if (stored === undefined) throw notFound(`no connection ${id}`);
  throw conflict(`connection ${id} is ${stored.state === 'closed' ? 'closed' : 'not held by this process'}`);
}

function side<T extends string>(value: unknown, allowed: readonly T[], fallback?: T): T {
  if (value === undefined && fallback !== undefined) return fallback;
  if (typeof value !== 'string' || !(allowed as readonly string[]).includes(value)) {
    throw badRequest(`"to" must be one of ${allowed.map((a) => `"${a}"`).join(', ')}`);
  }
  return value as T;
}

/** The message of a send: exactly one of "text" (a string) and "base64" (binary data, as a base64 string). */
function messageToSend(body: Record<string, unknown>): { type: 'text' | 'binary'; data: Buffer } {
  const { text, base64 } = body;
  if (text !== undefined && base64 !== undefined) {
    throw badRequest('give either "text" (a string) or "base64" (binary data), not both');
  }
  if (text === undefined && base64 === undefined) {
    throw badRequest('the message is missing: give "text" (a string) or "base64" (binary data)');
  }
  if (text !== undefined) {
    if (typeof text !== 'string') throw badRequest('"text" must be a string');
    return { type: 'text', data: Buffer.from(text, 'utf8') };
  }
  if (typeof base64 !== 'string' || !/^[A-Za-z0-9+/]*={0,2}$/.test(base64)) {
    throw badRequest('"base64" must be a string of base64 (A-Z, a-z, 0-9, +, /, = padding)');
  }
  return { type: 'binary', data: Buffer.from(base64, 'base64') };
}

export function apiHandlers(ctx: AdminContext): AdminHandler[] {
  return [
    {
      method: 'GET',
      path: '/api/connections',
      handle(_req, res, { url }) {
        const filter: ConnectionFilter = {
          state: oneOf(url, 'state', ['open', 'closed', 'failed'] as const),
          host: text(url, 'host'),
          route: text(url, 'route'),
          text: text(url, 'text'),
        };
        const limit = limitParam(url, 500, MAX_CONNECTIONS_PAGE);
        const all = ctx.store.connections(filter);
        sendJson(res, 200, {
          connections: all.slice(0, limit).map(summarize),
          total: all.length,
          more: all.length > limit,
          stats: ctx.store.stats(),
        });
      },
    },
    {
      method: 'GET',
      path: '/api/connections/:id',
      handle(_req, res, { params }) {
        const c = ctx.store.connection(params['id']!);
        if (c === undefined) throw notFound(`no connection ${params['id']} (never seen, or evicted from memory)`);
        sendJson(res, 200, { connection: c, live: ctx.session(c.id) !== undefined });
      },
    },
    {
      method: 'GET',
      path: '/api/connections/:id/messages',
      async handle(_req, res, { params, url }) {
        const id = params['id']!;
        const page = await messagePage(ctx, id, messageQuery(url));
        if (page === undefined) throw notFound(`no connection ${id}`);
        const c = ctx.store.connection(id);
        const last = page.messages[page.messages.length - 1];
        sendJson(res, 200, {
          messages: page.messages,
          more: page.more,
          next: last?.seq,
          source: page.source,
          // What memory no longer holds for this connection; with a session file it is served from there.
          evicted: c?.evictedMessages,
          evictedReadable: ctx.disk !== undefined,
          truncated: page.messages.filter((m) => m.truncated).length,
        });
      },
    },
    {
      method: 'POST',
      path: '/api/connections/:id/send',
      async handle(req, res, { params }) {
        const body = await readJson(req);
        const to = side(body['to'], ['client', 'server'] as const);
        const message = messageToSend(body);
        const session = liveSession(ctx, params['id']!);
        const result = await session.send(to, message);
        if (!result.ok) throw conflict(result.reason);
        sendJson(res, 202, { sent: { to, type: message.type, bytes: message.data.length } });
      },
    },
    {
      method: 'POST',
      path: '/api/connections/:id/close',
      async handle(req, res, { params }) {
        const body = await readJson(req);
        const to = side(body['to'], ['client', 'server', 'both'] as const, 'both');
        const { code, reason } = closeCodeAndReason(body, 1000, '');
        const session = liveSession(ctx, params['id']!);
        const result = await session.close(code, reason, to);
        if (!result.ok) throw conflict(result.reason);
        sendJson(res, 202, { closing: { to, code, reason } });
      },
    },
    {
      method: 'GET',
      path: '/api/connections/:id/har',
      async handle(_req, res, { params }) {
        const c = ctx.store.connection(params['id']!);
        if (c === undefined) throw notFound(`no connection ${params['id']} in memory`);
        const messages = await allMessages(ctx, c.id);
        await sendHarStream(res, `wsgate-${c.id}.har`, [harEntry(c, messages, ctx.version)], ctx.version);
      },
    },
    {
      method: 'GET',
      path: '/api/har',
      async handle(_req, res) {
        // Memory only: a HAR of everything from the session file could be gigabytes; per connection reads both.
        // Each entry is built when the reader has taken the one before (har-stream.ts).
        const connections = ctx.store.connections().reverse();
        const entries = function* () {
          for (const c of connections) {
            const page = ctx.store.messages(c.id, { after: 0, limit: MAX_HAR_MESSAGES });
            yield harEntry(c, page?.messages ?? [], ctx.version);
          }
        };
        await sendHarStream(res, 'wsgate.har', entries(), ctx.version);
      },
    },
    {
      method: 'GET',
      path: '/api/stats',
      handle(_req, res) {
        // skippedPayloads: whole messages left out of the session file while its worker was behind.
        sendJson(res, 200, {
          stats: ctx.store.stats(),
          sessionFile: ctx.disk?.file,
          skippedPayloads: ctx.disk?.skippedPayloads,
        });
      },
    },
    {
      method: 'GET',
      path: '/api/config',
      handle(_req, res) {
        sendJson(res, 200, { config: ctx.config() });
      },
    },
    {
      method: 'POST',
      path: '/api/reload',
      async handle(req, res) {
        req.resume();
        if (ctx.reload === undefined) {
          throw conflict('wsgate runs without a config file (--listen/--upstream/--forward): nothing to reload');
        }
        try {
          await ctx.reload();
        } catch (err) {
          if (err instanceof WsgateError) {
            throw new WsgateError('WSG_ADMIN_BAD_REQUEST', { detail: `config reload failed: ${err.message}` });
          }
          throw err;
        }
        sendJson(res, 200, { reloaded: true });
      },
    },
  ];
}
