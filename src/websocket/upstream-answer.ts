// The upstream's answer to a WebSocket handshake, read and (when it is not a 101) relayed: the response head read
// up to a bound, and a refusal relayed to the client with backpressure and a deadline, then both sockets closed.
import type net from 'node:net';
import { headerValue, parseResponseHead, type ResponseHead, serializeResponseHead } from '../http/head.ts';
import { stripHopByHop, stripRelayedResponse } from '../http/hop-by-hop.ts';
import { isInterimStatus } from '../http/status.ts';

/** After a refusal is relayed, how long a client that does not read the rest may keep its socket. */
const REFUSAL_LINGER_MS = 5000;

/**
 * Reads bytes until the upstream's answer head is complete. Interim 1xx heads before it (100 Continue, 103 Early
 * Hints; not 101, which is the answer) go to `onInterim` as they are parsed (relayInterim passes them on). All heads
 * together stay within maxBytes, so a flood of them is an invalid answer.
 */
export function readResponseHead(
  upstream: net.Socket,
  maxBytes: number,
  onInterim: (head: ResponseHead) => void = () => {},
): Promise<{ head: ResponseHead; buffered: Buffer }> {
  return new Promise((resolve, reject) => {
    let buffered: Buffer = Buffer.alloc(0);
    // Bytes of interim heads already passed on: the answer's head has what is left of maxBytes.
    let interimBytes = 0;
    const cleanup = () => {
      upstream.off('data', onData);
      upstream.off('end', onEnd);
      upstream.off('error', onError);
      upstream.off('close', onEnd);
    };
    const onData = (chunk: Buffer) => {
      buffered = buffered.length === 0 ? chunk : Buffer.concat([buffered, chunk]);
      let result: ReturnType<typeof parseResponseHead>;
      // Inside a 'data' listener a throw would be an uncaught exception; as a rejection it ends this upgrade only.
      try {
        result = parseResponseHead(buffered, maxBytes - interimBytes);
        while (result.state === 'complete' && isInterimStatus(result.head.statusCode)) {
          const length = result.head.length;
          interimBytes += length;
          onInterim(result.head);
          buffered = buffered.subarray(length);
          result = parseResponseHead(buffered, maxBytes - interimBytes);
        }
      } catch (error) {
        cleanup();
        reject(error);
        return;
      }
      if (result.state === 'incomplete') return;
      cleanup();
      upstream.pause();
      if (result.state === 'invalid') reject(new Error(result.detail));
      else resolve({ head: result.head, buffered });
    };
    const onEnd = () => {
      cleanup();
      reject(Object.assign(new Error('closed before answering the handshake'), { code: 'ECONNRESET' }));
    };
    const onError = (err: Error) => {
      cleanup();
      reject(err);
    };
    upstream.on('data', onData);
    upstream.once('end', onEnd);
    upstream.once('error', onError);
    upstream.once('close', onEnd);
  });
}

/**
 * Passes an interim head on to the client (RFC 9110 §15.2: a proxy forwards 1xx responses; the client waits on for
 * the answer). RFC 9110 §7.6.1: its hop-by-hop fields and whatever its Connection names end here like any other
 * message's; a 1xx has no body, so nothing framing one is kept. Rare (only upstreams that send 1xx pay for it).
 */
export function relayInterim(client: net.Socket, head: ResponseHead): void {
  if (client.destroyed) return;
  // latin1, as parseResponseHead read it: the upstream's bytes go back as they came.
  client.write(serializeResponseHead(head.statusCode, head.statusMessage, stripHopByHop(head.headers)), 'latin1');
}

/**
 * Relays a non-101 answer to the client and closes both connections: after a refused upgrade the client's
 * socket must not be reused, or bytes the client sends next could reach the upstream as a second request.
 * The body is relayed with backpressure (the upstream is paused while the client holds `maxBuffered` unsent
 * bytes), and the whole relay ends after `timeout`, so a client that never reads holds neither memory nor sockets.
 */
export function relayRefusal(
  client: net.Socket,
  upstream: net.Socket,
  head: ResponseHead,
  rest: Buffer,
  timeout: number,
  maxBuffered: number,
): void {
  // RFC 9110 §7.6.1: what the upstream's Connection names, and the hop-by-hop fields, end here; the body goes on
  // unchanged, so the fields that frame it stay. wsgate's own Connection: close ends the client's socket after it.
  const headers = stripRelayedResponse(head.headers);
  headers.push(['Connection', 'close']);
  // latin1, as parseResponseHead read it: the upstream's bytes go back as they came.
  client.write(serializeResponseHead(head.statusCode, head.statusMessage, headers), 'latin1');
  // RFC 9110 §6.4.1: 1xx, 204 and 304 responses never have a body, whatever their headers say.
  const status = head.statusCode;
  const noBody = (status >= 100 && status < 200) || status === 204 || status === 304;
  const declared = headerValue(head.headers, 'content-length');
  const length = declared === undefined ? Number.NaN : Number(declared);
  let remaining = noBody ? 0 : Number.isFinite(length) && length >= 0 ? length : Number.POSITIVE_INFINITY;
  let finished = false;
  const onDrain = () => upstream.resume();
  const finish = () => {
    if (finished) return;
    finished = true;
    clearTimeout(timer);
    client.off('drain', onDrain);
    upstream.destroy();
    client.end();
    // A deadline, not an idle timer: a client that trickles bytes while never reading must not hold its socket.
    const linger = setTimeout(() => client.destroy(), REFUSAL_LINGER_MS);
    linger.unref();
    client.once('close', () => clearTimeout(linger));
  };
  const forward = (chunk: Buffer) => {
    const part = chunk.subarray(0, Math.min(chunk.length, remaining));
    remaining -= part.length;
    // The client's write buffer is the only place the body may wait: past the limit, stop reading the upstream.
    if (part.length > 0 && (!client.write(part) || client.writableLength >= maxBuffered)) upstream.pause();
    if (remaining <= 0) finish();
  };
  client.on('drain', onDrain);
  // A body without Content-Length runs until the upstream closes, and a client that stops reading would hold a
  // paused upstream: bound both.
  const timer = setTimeout(finish, timeout);
  timer.unref();
  upstream.on('end', finish);
  upstream.on('close', finish);
  if (rest.length > 0 && remaining > 0) forward(rest);
  if (remaining > 0) {
    upstream.on('data', forward);
    if (client.writableLength < maxBuffered) upstream.resume();
  } else {
    finish();
  }
}
