// Whether two listening addresses would collide in the kernel: the second bind() would fail with EADDRINUSE.
// Config checks refuse such a pair before anything listens, and reload closes an old listener before it binds a
// new one on an address it shares. Pure.
import { canonicalHost, parseIp } from './ip.ts';

type Bind = { readonly host: string; readonly port: number };

/**
 * 0.0.0.0:P takes every IPv4 address on P; :: takes every address on P, IPv4 too (Node listens dual-stack). Port 0
 * picks a free port, so it never collides. Host names (localhost) count only against the same name: what they
 * resolve to is the resolver's, at run time.
 */
export function bindsOverlap(a: Bind, b: Bind): boolean {
  if (a.port === 0 || b.port === 0 || a.port !== b.port) return false;
  const x = canonicalHost(a.host);
  const y = canonicalHost(b.host);
  if (x === y || x === '::' || y === '::') return true;
  const family = (h: string) => parseIp(h)?.family;
  return (x === '0.0.0.0' && family(y) === 4) || (y === '0.0.0.0' && family(x) === 4);
}
