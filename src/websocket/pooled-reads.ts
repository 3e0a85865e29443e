// Reads a joined TCP socket into wsgate's own buffers instead of the fresh 64 KiB allocation Node makes for every
// read. Those allocations, freed only by the garbage collector, were most of the proxy's CPU at 1 MiB messages:
// page faults on new memory, and a full (mark-compact) collection every few hundred milliseconds to free the
// external memory they add up to (`perf` and `--trace-gc`, docs/benchmarks.md). nginx reads into buffers it keeps.
//
// Node offers this as `onread` (net.connect), which only sockets wsgate creates itself could use; the client side
// of a WebSocket comes from http.Server. So this switches an existing socket to the same mechanism: the socket's
// own `onread` fields (found by their symbol descriptions) and `useUserBuffer` on its TCP handle. Where either is
// missing (a TLS socket, another Node), the caller keeps its 'data' listener: slower, never wrong. A socket
// switches at its first chunk, so an idle connection costs nothing more.
//
// Where the bytes are read to:
// - a connection with small reads reads into one buffer shared by every pooled socket, and each chunk is copied
//   out (from Node's 8 KiB pool when small) before anyone sees it, so no socket ever owns memory while idle;
// - a read of BULK_BYTES or more moves that socket to a private buffer (at most MAX_PRIVATE in the process); its
//   chunks are views, written onward without a copy. A write that does not complete at once keeps its view, so that
//   buffer is left to the write and the socket reads into a fresh one. Eight small reads in a row, or the socket
//   closing, give the private buffer back.
// Receivers of a chunk may read it during the call only (the joiner's contract for observers already).
// A reader that copies whatever it keeps (the relay: decoder, assembler) can borrow instead: every read lands in
// the shared buffer and is handed over as a view, no copy and no private buffer (switchToBorrowedReads).
import type net from 'node:net';

const READ_BYTES = 64 * 1024;
/** A read this large means bulk transfer: worth a private buffer. */
const BULK_BYTES = 16 * 1024;
/** Small reads in a row before a private buffer goes back. */
const SMALL_READS_BACK = 8;
/** Private buffers at most, in use and free: 4 MiB. Past it, bulk sockets read through the shared buffer. */
const MAX_PRIVATE = 64;
const MAX_FREE = 8;

type OnreadFields = { buffer: symbol; callback: symbol; generator: symbol };
type TcpHandle = { useUserBuffer(buffer: Uint8Array): void; constructor: { name: string } };

let fields: OnreadFields | null | undefined;
let shared: Buffer | undefined;
const free: Buffer[] = [];
let privateCount = 0;
let pooledSockets = 0;

function onreadFields(socket: net.Socket): OnreadFields | null {
  const symbols = Object.getOwnPropertySymbols(socket);
  const find = (description: string) => symbols.find((s) => s.description === description);
  const buffer = find('kBuffer');
  const callback = find('kBufferCb');
  const generator = find('kBufferGen');
  return buffer && callback && generator ? { buffer, callback, generator } : null;
}

function takePrivate(): Buffer | undefined {
  const reused = free.pop();
  if (reused !== undefined) return reused;
  if (privateCount >= MAX_PRIVATE) return undefined;
  privateCount += 1;
  return Buffer.allocUnsafeSlow(READ_BYTES);
}

function givePrivate(buffer: Buffer): void {
  if (free.length < MAX_FREE) free.push(buffer);
  else privateCount -= 1;
}

/** A private buffer the socket can no longer use (a write still holds it): it no longer counts against the cap. */
function losePrivate(): void {
  privateCount -= 1;
}

/** How many sockets read through the pool now, and how many private buffers exist: for tests and the bench. */
export function pooledReadStats(): { sockets: number; privateBuffers: number } {
  return { sockets: pooledSockets, privateBuffers: privateCount };
}

function tcpHandle(socket: net.Socket): TcpHandle | null | undefined {
  return (socket as unknown as { _handle?: TcpHandle | null })._handle;
}

/** Whether `socket` can read into the pool: a plain TCP socket on a Node that has the onread fields. */
export function canReadPooled(socket: net.Socket): boolean {
  const handle = tcpHandle(socket);
  if (handle == null || handle.constructor.name !== 'TCP' || typeof handle.useUserBuffer !== 'function') return false;
  fields ??= onreadFields(socket);
  return fields !== null;
}

/** The handle of a socket that may switch now: flowing with nothing buffered, after canReadPooled held. */
function switchable(from: net.Socket): TcpHandle | undefined {
  if (!fields || from.readableFlowing !== true || from.readableLength > 0) return undefined;
  return tcpHandle(from) ?? undefined;
}

function sharedReadBuffer(): Buffer {
  shared ??= Buffer.allocUnsafeSlow(READ_BYTES);
  return shared;
}

/**
 * Reads `from` into the pool from now on and hands each chunk to `onChunk`, which writes it to `to` (and may show
 * it to observers) and returns false to stop reading until `from.resume()`. Meant to be called from a 'data'
 * listener (which the caller then removes), so that a connection that never carries data never switches: returns
 * false, changing nothing, unless `from` is flowing with nothing buffered and canReadPooled(from) held.
 */
export function switchToPooledReads(from: net.Socket, to: net.Socket, onChunk: (chunk: Buffer) => boolean): boolean {
  const handle = switchable(from);
  if (handle === undefined) return false;
  const sharedBuffer = sharedReadBuffer();

  let own: Buffer | undefined;
  let next: Buffer = sharedBuffer;
  let smallReads = 0;

  const onRead = (n: number, buffer: Buffer): boolean => {
    if (buffer !== own) {
      // The shared buffer: copy out, since the next read of any pooled socket overwrites it.
      const chunk = Buffer.allocUnsafe(n);
      buffer.copy(chunk, 0, 0, n);
      if (n >= BULK_BYTES && own === undefined) {
        own = takePrivate();
        if (own !== undefined) next = own;
        smallReads = 0;
      }
      return onChunk(chunk);
    }
    const queued = to.writableLength;
    // Behind a queue the write would hold the view until the queue drains: copy, keep the buffer.
    let chunk = buffer.subarray(0, n);
    if (queued > 0) chunk = Buffer.from(chunk);
    const ok = onChunk(chunk);
    if (queued === 0 && to.writableLength > 0) {
      // The write kept (part of) the view: the buffer is the write's now.
      losePrivate();
      own = takePrivate();
      next = own ?? sharedBuffer;
      smallReads = 0;
    } else if (n < BULK_BYTES) {
      smallReads += 1;
      if (smallReads >= SMALL_READS_BACK) {
        givePrivate(buffer);
        own = undefined;
        next = sharedBuffer;
      }
    } else smallReads = 0;
    return ok;
  };

  install(
    from,
    handle,
    onRead,
    () => next,
    () => {
      if (own !== undefined) givePrivate(own);
      own = undefined;
    },
  );
  return true;
}

/**
 * Like switchToPooledReads for a reader that keeps nothing of a chunk past the call (it copies what it needs): each
 * chunk is a view of the shared buffer, valid until the callback returns. Returns false, changing nothing, where
 * switchToPooledReads would.
 */
export function switchToBorrowedReads(from: net.Socket, onChunk: (chunk: Buffer) => boolean): boolean {
  const handle = switchable(from);
  if (handle === undefined) return false;
  const sharedBuffer = sharedReadBuffer();
  install(
    from,
    handle,
    (n, buffer) => onChunk(buffer.subarray(0, n)),
    () => sharedBuffer,
  );
  return true;
}

function install(
  from: net.Socket,
  handle: TcpHandle,
  onRead: (n: number, buffer: Buffer) => boolean,
  next: () => Buffer,
  onClose?: () => void,
): void {
  const f = fields!;
  const socket = from as unknown as Record<symbol, unknown>;
  const first = next();
  socket[f.buffer] = first;
  socket[f.callback] = onRead;
  socket[f.generator] = next;
  // Inside a read callback this takes effect from the next read on (the handle asks its newest listener then).
  handle.useUserBuffer(first);
  pooledSockets += 1;
  from.on('close', () => {
    pooledSockets -= 1;
    onClose?.();
  });
}
