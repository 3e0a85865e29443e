// Writes a HAR export to its HTTP answer an entry at a time (traffic/har.ts harChunks), waiting for the reader:
// while the client's socket is backed up no further entry is built, so an export of a large store holds about one
// entry plus the socket's buffer in memory, not the whole file twice. A client that goes away ends the export.
import { once } from 'node:events';
import type http from 'node:http';
import { harChunks } from '../traffic/har.ts';
import { SAFE_HEADERS } from './admin-http.ts';

/** Resolves when the export is written or its reader left. No Content-Length: the answer is chunked. */
export async function sendHarStream(
  res: http.ServerResponse,
  name: string,
  entries: Iterable<unknown>,
  version: string,
): Promise<void> {
  res.writeHead(200, {
    ...SAFE_HEADERS,
    'content-type': 'application/json; charset=utf-8',
    'content-disposition': `attachment; filename="${name}"`,
  });
  // HEAD: Node drops what is written, so nothing need be built.
  if (res.req?.method === 'HEAD') {
    res.end();
    return;
  }
  for (const chunk of harChunks(entries, version)) {
    if (res.destroyed) return;
    if (!res.write(chunk)) await drainedOrClosed(res);
  }
  if (!res.destroyed) res.end();
}

/**
 * 'close' too: a reader that leaves while backed up never drains. The loser's listeners are taken off (the abort
 * rejects its promise, which the race has already handled): a big export waits hundreds of times, and listeners
 * left behind would pile up on the answer until it closed.
 */
async function drainedOrClosed(res: http.ServerResponse): Promise<void> {
  const done = new AbortController();
  try {
    await Promise.race([once(res, 'drain', { signal: done.signal }), once(res, 'close', { signal: done.signal })]);
  } finally {
    done.abort();
  }
}
