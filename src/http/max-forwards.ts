// Max-Forwards (RFC 9110 §7.6.2): how many more proxies an OPTIONS or TRACE request may pass, so a client can ask
// any hop of a chain about itself or see what reaches it. A proxy that receives 0 answers as the final recipient;
// above 0 it forwards the value less one. Other methods carry the field on untouched (the RFC lets a proxy ignore it
// there). What the final answer to a TRACE says is here too (RFC 9110 §9.3.8). Pure.
import type { HeaderPairs } from './head.ts';

/** What a proxy does with a request's Max-Forwards. */
export type MaxForwardsStep =
  /** Forward the request as it is: not OPTIONS or TRACE, no Max-Forwards, or one that is not a number. */
  | { kind: 'forward' }
  /** Forward it with this Max-Forwards instead (the received value less one). */
  | { kind: 'decrement'; value: string }
  /** Do not forward it: answer as the final recipient. */
  | { kind: 'answer' };

/**
 * The step for a request. A value that is not 1*DIGIT is not a Max-Forwards the sender meant (nor one wsgate could
 * count down): the request goes on as it came, as for a request without one. Counted in BigInt: a 30-digit value is
 * still a valid one.
 */
export function maxForwardsStep(method: string, value: string | undefined): MaxForwardsStep {
  if ((method !== 'OPTIONS' && method !== 'TRACE') || value === undefined) return { kind: 'forward' };
  const text = value.trim();
  if (!/^\d+$/.test(text)) return { kind: 'forward' };
  const n = BigInt(text);
  return n === 0n ? { kind: 'answer' } : { kind: 'decrement', value: String(n - 1n) };
}

/**
 * RFC 9110 §9.3.8: fields a TRACE's final recipient leaves out of the echo, because they likely hold secrets
 * (credentials, cookies): a reflected request must not hand them to whoever reads the response.
 */
const NOT_REFLECTED: ReadonlySet<string> = new Set(['authorization', 'proxy-authorization', 'cookie']);

/**
 * The content of a final recipient's 200 to TRACE (Content-Type message/http): the request line and header lines
 * as received, but for NOT_REFLECTED. Latin1, one character per byte, as node:http read them.
 */
export function traceEcho(method: string, target: string, httpVersion: string, headers: HeaderPairs): string {
  let text = `${method} ${target} HTTP/${httpVersion}\r\n`;
  for (const [name, value] of headers) {
    if (!NOT_REFLECTED.has(name.toLowerCase())) text += `${name}: ${value}\r\n`;
  }
  return `${text}\r\n`;
}
