// --compare: the same handshake (same Sec-WebSocket-Key, so even the accept values match) sent directly and through
// the proxy, and what differs in the answers — status, headers added, removed or changed, and so the negotiated
// subprotocol and extensions — because "it works without the proxy" is where users start. Pure.
import type { HeaderPairs } from '../http/head.ts';
import type { CompareDiff } from './report.ts';
import { fail, ok, type Verdict, warn } from './report.ts';

/** Headers that differ between any two answers and say nothing about the path. */
const IGNORED = new Set(['date', 'expires', 'last-modified', 'age', 'x-request-id', 'x-amzn-trace-id']);

function byName(headers: HeaderPairs): Map<string, string> {
  const map = new Map<string, string>();
  for (const [name, value] of headers) {
    const lower = name.toLowerCase();
    if (IGNORED.has(lower)) continue;
    const prior = map.get(lower);
    map.set(lower, prior === undefined ? value : `${prior}, ${value}`);
  }
  return map;
}

export type Side = { status: number | undefined; headers: HeaderPairs; error?: string | undefined };

export function diffHandshakes(direct: Side, proxied: Side): CompareDiff {
  const d = byName(direct.headers);
  const p = byName(proxied.headers);
  const added: [string, string][] = [];
  const removed: [string, string][] = [];
  const changed: { name: string; direct: string; proxied: string }[] = [];
  for (const [name, value] of p) {
    const before = d.get(name);
    if (before === undefined) added.push([name, value]);
    else if (before !== value) changed.push({ name, direct: before, proxied: value });
  }
  for (const [name, value] of d) if (!p.has(name)) removed.push([name, value]);
  const side = (s: Side) => (s.error === undefined ? { status: s.status } : { status: s.status, error: s.error });
  return {
    same: direct.status === proxied.status && added.length + removed.length + changed.length === 0,
    direct: side(direct),
    proxied: side(proxied),
    added,
    removed,
    changed,
  };
}

const show = (s: CompareDiff['direct']) =>
  s.status === undefined ? `no answer (${s.error ?? 'failed'})` : String(s.status);

export function judgeCompare(diff: CompareDiff): Verdict {
  const parts: string[] = [];
  if (diff.direct.status !== diff.proxied.status)
    parts.push(`status ${show(diff.direct)} direct, ${show(diff.proxied)} through the proxy`);
  if (diff.removed.length > 0) parts.push(`removed: ${diff.removed.map(([n]) => n).join(', ')}`);
  if (diff.added.length > 0) parts.push(`added: ${diff.added.map(([n]) => n).join(', ')}`);
  if (diff.changed.length > 0) parts.push(`changed: ${diff.changed.map((c) => c.name).join(', ')}`);
  if (diff.same) return ok('COMPARE_SAME', `direct and through the proxy: the same answer (${show(diff.direct)})`);
  const works = (s: CompareDiff['direct']) => s.status === 101;
  if (works(diff.direct) && !works(diff.proxied)) {
    return fail(
      'COMPARE_PROXY_BREAKS',
      `works directly, not through the proxy: ${parts.join('; ')}`,
      'The proxy is what breaks the WebSocket: see the failing step above for why and what to change.',
    );
  }
  return warn('COMPARE_DIFFERENT', parts.join('; '));
}
