// The admin API of the hold action (breakpoints, docs/admin-api.md): list the held messages, forward one (with
// new data or unchanged) or drop it, and add a hold to one live connection at run time. The list comes from the
// relay's rule events (held.ts), the data and the decisions from the live session that holds the message (its
// id starts with the connection id: "w1a.h3").
import { DEFAULT_HOLD_TIMEOUT_MS } from '../config/shape-actions.ts';
import { parseTextPattern } from '../config/text-pattern.ts';
import { parseDuration } from '../config/units.ts';
import type { Direction } from '../events.ts';
import type { HoldDecision } from '../websocket/relay-hold.ts';
import { badRequest, conflict, notFound, readJson, sendJson } from './admin-http.ts';
import type { AdminHandler } from './admin-server.ts';
import type { ControlTarget } from './api.ts';
import type { HeldList } from './held.ts';

export type HeldContext = {
  held: HeldList;
  session(conn: string): ControlTarget | undefined;
};

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

/** "w1a.h3" → "w1a". */
export function connOfHeld(id: string): string | undefined {
  const at = id.lastIndexOf('.h');
  return at > 0 ? id.slice(0, at) : undefined;
}

function newData(body: Record<string, unknown>): HoldDecision & { op: 'forward' } {
  const text = body['text'];
  const base64 = body['base64'];
  if (text === undefined && base64 === undefined) return { op: 'forward' };
  if (typeof text === 'string' && base64 === undefined) {
    return { op: 'forward', data: { type: 'text', data: Buffer.from(text, 'utf8') } };
  }
  if (typeof base64 === 'string' && text === undefined) {
    if (!BASE64.test(base64)) throw badRequest('"base64" is not base64');
    return { op: 'forward', data: { type: 'binary', data: Buffer.from(base64, 'base64') } };
  }
  throw badRequest('give "text" (a string) or "base64" (binary data) to replace the data, or neither, not both');
}

function directions(value: unknown): Direction[] {
  switch (value) {
    case 'toServer':
    case 'toUpstream':
      return ['toUpstream'];
    case 'toClient':
      return ['toClient'];
    case 'both':
    case undefined:
      return ['toUpstream', 'toClient'];
    default:
      throw badRequest('"direction" must be "toServer", "toClient" or "both"');
  }
}

function timeoutOf(value: unknown): number {
  if (value === undefined) return DEFAULT_HOLD_TIMEOUT_MS;
  const r = parseDuration(value);
  if (!r.ok || r.value <= 0) throw badRequest('"timeout" must be a duration longer than 0, e.g. "30s" or 30000 (ms)');
  return r.value;
}

function textMatcher(value: unknown): RegExp | undefined {
  if (value === undefined || value === '') return undefined;
  if (typeof value !== 'string') throw badRequest('"text" must be a string: "/regex/flags" or a substring');
  const p = parseTextPattern(value);
  if (!p.ok) throw badRequest(`"text": ${p.message}`);
  return p.kind === 'regex' ? new RegExp(p.source, p.flags) : new RegExp(p.text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'));
}

async function decide(ctx: HeldContext, id: string, decision: HoldDecision): Promise<void> {
  const conn = ctx.held.get(id)?.conn ?? connOfHeld(id);
  if (conn === undefined) throw notFound(`no held message ${id}`);
  const session = ctx.session(conn);
  if (session === undefined) throw notFound(`no held message ${id}: connection ${conn} is not live`);
  if (session.release === undefined) throw conflict(`connection ${conn} cannot be reached to release ${id}`);
  const result = await session.release(id, decision);
  if (!result.ok) throw result.reason.startsWith('no held message') ? notFound(result.reason) : conflict(result.reason);
}

export function heldHandlers(ctx: HeldContext): AdminHandler[] {
  return [
    {
      method: 'GET',
      path: '/api/held',
      handle(_req, res, { url }) {
        const conn = url.searchParams.get('conn') || undefined;
        const entries = ctx.held.list(conn);
        // The data comes from the relay that holds it, when it runs in this process.
        const data = new Map<string, Buffer>();
        for (const c of new Set(entries.map((e) => e.conn))) {
          for (const h of ctx.session(c)?.held?.() ?? []) data.set(h.id, h.data);
        }
        const held = entries.map((e) => {
          const d = data.get(e.id);
          const { kind, ...rest } = e;
          if (d === undefined) return { ...rest, type: kind, dataAvailable: false };
          return {
            ...rest,
            type: kind,
            dataAvailable: true,
            ...(kind === 'text' ? { text: d.toString('utf8') } : { base64: d.toString('base64') }),
          };
        });
        sendJson(res, 200, { held, now: new Date().toISOString() });
      },
    },
    {
      method: 'POST',
      path: '/api/held/:id/forward',
      async handle(req, res, { params }) {
        const decision = newData(await readJson(req));
        const id = params['id']!;
        await decide(ctx, id, decision);
        sendJson(res, 200, { forwarded: { id, edited: decision.data !== undefined } });
      },
    },
    {
      method: 'POST',
      path: '/api/held/:id/drop',
      async handle(req, res, { params }) {
        req.resume();
        const id = params['id']!;
        await decide(ctx, id, { op: 'drop' });
        sendJson(res, 200, { dropped: { id } });
      },
    },
    {
      method: 'POST',
      path: '/api/rules/hold',
      async handle(req, res) {
        const body = await readJson(req);
        const conn = body['conn'];
        if (typeof conn !== 'string' || conn === '') throw badRequest('"conn" (a connection id) is required');
        const on = body['on'] ?? true;
        if (typeof on !== 'boolean') throw badRequest('"on" must be true or false');
        const onTimeout = body['onTimeout'] ?? 'forward';
        if (onTimeout !== 'forward' && onTimeout !== 'drop')
          throw badRequest('"onTimeout" must be "forward" or "drop"');
        const dirs = directions(body['direction']);
        const text = textMatcher(body['text']);
        const timeoutMs = timeoutOf(body['timeout']);
        const session = ctx.session(conn);
        if (session === undefined) throw notFound(`connection ${conn} is not live`);
        if (session.holdRule === undefined) {
          throw conflict(
            `connection ${conn} is passed through byte for byte and cannot hold messages: give its route a rule with a message action (e.g. hold with a match that never holds) so that it is relayed`,
          );
        }
        for (const direction of dirs) {
          const result = await session.holdRule({ direction, text, timeoutMs, onTimeout, on });
          if (!result.ok) throw conflict(result.reason);
        }
        sendJson(res, 200, {
          hold: {
            conn,
            directions: dirs,
            on,
            text: body['text'] ?? null,
            timeoutMs,
            onTimeout,
          },
        });
      },
    },
  ];
}
