// Whether two listening addresses would collide in the kernel: the second bind() would fail with EADDRINUSE.
// Config checks refuse such a pair before anything listens, and reload closes an old listener before it binds a
// new one on an address it shares. Pure.
import { canonicalHost, formatIp, parseIp, unmapIp } from './ip.ts';

type Bind = { readonly host: string; readonly port: number };

/**
 * 0.0.0.0:P takes every IPv4 address on P; :: takes every address on P, IPv4 too (Node listens dual-stack). Port 0
 * picks a free port, so it never collides. localhost is a loopback address of either family (which one is the
 * resolver's, at run time), so it counts as both; other host names only against the same name.
 */
export function bindsOverlap(a: Bind, b: Bind): boolean {
  if (a.port === 0 || b.port === 0 || a.port !== b.port) return false;
  return candidates(a.host).some((x) => candidates(b.host).some((y) => hostsOverlap(x, y)));
}

function candidates(host: string): string[] {
  const h = canonicalHost(host);
  if (h === 'localhost' || h.endsWith('.localhost')) return [h, '127.0.0.1', '::1'];
  // An IPv4-mapped address (::ffff:127.0.0.1) binds the IPv4 address it maps: the kernel refuses the pair too.
  const ip = parseIp(h);
  return [ip === undefined ? h : formatIp(unmapIp(ip))];
}

function hostsOverlap(x: string, y: string): boolean {
  if (x === y || x === '::' || y === '::') return true;
  const family = (h: string) => parseIp(h)?.family;
  return (x === '0.0.0.0' && family(y) === 4) || (y === '0.0.0.0' && family(x) === 4);
}
