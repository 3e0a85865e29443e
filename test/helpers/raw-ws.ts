// Raw WebSocket peers for the frame-tap tests, on 127.0.0.1 only: an upstream that answers the opening handshake
// itself (correct Sec-WebSocket-Accept, permessage-deflate agreed when asked) and records every byte it receives
// after it, and a client that does the handshake on a bare net socket and then writes whatever bytes a test gives
// it. Neither interprets the stream on the forwarding path: the tests see exactly what crossed the wire. A small
// frame reader of its own (independent of src/websocket/decoder.ts, which is what is under test) lets a peer answer
// a close frame and lets tests look at what arrived.
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import type { TestContext } from 'node:test';
import { encodeClose, encodeFrame } from '../../src/websocket/encoder.ts';
import { OPCODE } from '../../src/websocket/frame.ts';
import { computeAcceptKey } from '../../src/websocket/handshake.ts';

export { OPCODE };

/** One frame as it arrived; `payload` is unmasked (and empty when the frame was too large to keep). */
export type RawFrame = {
  fin: boolean;
  rsv1: boolean;
  opcode: number;
  masked: boolean;
  maskKey: Buffer | undefined;
  length: number;
  payload: Buffer;
  /** The payload was longer than the reader keeps, so only its length is known. */
  discarded: boolean;
};

/** Close code and reason of a close frame's payload (code undefined for an empty body). */
export function closeBody(payload: Buffer): { code: number | undefined; reason: string } {
  if (payload.length < 2) return { code: undefined, reason: '' };
  return { code: payload.readUInt16BE(0), reason: payload.subarray(2).toString('utf8') };
}

/**
 * An incremental RFC 6455 frame reader: accepts bytes in any chunking, calls `onFrame` for each complete frame.
 * Payloads longer than `maxKeep` are skipped (counted, not stored), so a peer can swallow a large frame in O(1).
 */
export class FrameReader {
  #onFrame: (frame: RawFrame) => void;
  #maxKeep: number;
  #head: Buffer = Buffer.alloc(0);
  #frame: Omit<RawFrame, 'payload'> | undefined;
  #remaining = 0;
  #parts: Buffer[] = [];

  constructor(onFrame: (frame: RawFrame) => void, maxKeep = 16 * 1024 * 1024) {
    this.#onFrame = onFrame;
    this.#maxKeep = maxKeep;
  }

  push(chunk: Buffer): void {
    let pos = 0;
    while (pos < chunk.length || (this.#frame !== undefined && this.#remaining === 0)) {
      if (this.#frame === undefined) {
        this.#head = this.#head.length === 0 ? chunk.subarray(pos) : Buffer.concat([this.#head, chunk.subarray(pos)]);
        pos = chunk.length;
        const parsed = this.#parseHead();
        if (parsed === undefined) return;
        // Whatever followed the header in #head is the start of the payload: feed it back as the current chunk.
        chunk = this.#head.subarray(parsed);
        this.#head = Buffer.alloc(0);
        pos = 0;
        continue;
      }
      const n = Math.min(this.#remaining, chunk.length - pos);
      if (!this.#frame.discarded && n > 0) this.#parts.push(Buffer.from(chunk.subarray(pos, pos + n)));
      this.#remaining -= n;
      pos += n;
      if (this.#remaining === 0) this.#finish();
    }
  }

  // Returns the header length once the whole header is in #head, and sets up the frame.
  #parseHead(): number | undefined {
    const h = this.#head;
    if (h.length < 2) return undefined;
    const b0 = h[0]!;
    const b1 = h[1]!;
    const l7 = b1 & 0x7f;
    const masked = (b1 & 0x80) !== 0;
    const lengthBytes = l7 === 126 ? 2 : l7 === 127 ? 8 : 0;
    const headerLength = 2 + lengthBytes + (masked ? 4 : 0);
    if (h.length < headerLength) return undefined;
    const length = l7 === 126 ? h.readUInt16BE(2) : l7 === 127 ? Number(h.readBigUInt64BE(2)) : l7;
    this.#frame = {
      fin: (b0 & 0x80) !== 0,
      rsv1: (b0 & 0x40) !== 0,
      opcode: b0 & 0x0f,
      masked,
      maskKey: masked ? Buffer.from(h.subarray(2 + lengthBytes, headerLength)) : undefined,
      length,
      discarded: length > this.#maxKeep,
    };
    this.#remaining = length;
    this.#parts = [];
    return headerLength;
  }

  #finish(): void {
    const frame = this.#frame!;
    this.#frame = undefined;
    const payload = Buffer.concat(this.#parts);
    this.#parts = [];
    if (frame.maskKey) for (let i = 0; i < payload.length; i++) payload[i]! ^= frame.maskKey[i & 3]!;
    this.#onFrame({ ...frame, payload });
  }
}

/** Polls `cond` every 5 ms until it holds; throws with `what` after the time limit. */
export async function waitUntil(cond: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** Records everything a socket receives after its HTTP head, and parses it into frames. */
class Recorder {
  readonly frames: RawFrame[] = [];
  #chunks: Buffer[] = [];
  #length = 0;
  #record: boolean;
  #reader: FrameReader;

  constructor(record: boolean, maxKeep: number, onFrame: (frame: RawFrame) => void) {
    this.#record = record;
    this.#reader = new FrameReader((f) => {
      this.frames.push(f);
      onFrame(f);
    }, maxKeep);
  }

  push(chunk: Buffer): void {
    this.#length += chunk.length;
    if (this.#record) this.#chunks.push(chunk);
    this.#reader.push(chunk);
  }

  get length(): number {
    return this.#length;
  }

  bytes(): Buffer {
    if (!this.#record) throw new Error('this peer does not record its bytes');
    return Buffer.concat(this.#chunks);
  }
}

export type PeerOptions = {
  /** Keep every received byte for bytes() (default true); off, only the length and the frames are kept. */
  record?: boolean;
  /** Frame payloads above this many bytes are not kept by the frame reader (default 16 MiB). */
  maxKeep?: number;
  /**
   * Answer a close frame with a close frame of the same code (default true); the upstream then ends the TCP
   * connection, also when the close frame answers its own.
   */
  autoClose?: boolean;
};

/** What both raw peers share: a socket past its handshake, what arrived, and how to write. */
abstract class RawPeer {
  readonly socket: net.Socket;
  /** The HTTP head this peer received (request for the upstream, 101 for the client), without the blank line. */
  head = '';
  /** Answer a close frame with one of the same code; can be changed per connection. */
  autoClose: boolean;
  /** A close frame has been written by this peer. */
  closeSent = false;
  readonly closed: Promise<void>;
  /** Bytes written after the handshake, in order. */
  readonly sent: Buffer[] = [];
  #recorder: Recorder;
  #headBuf: Buffer | undefined = Buffer.alloc(0);

  constructor(socket: net.Socket, options: PeerOptions) {
    this.socket = socket;
    this.autoClose = options.autoClose ?? true;
    this.#recorder = new Recorder(options.record ?? true, options.maxKeep ?? 16 * 1024 * 1024, (f) => {
      if (f.opcode === OPCODE.CLOSE && this.autoClose && this.closeSent) {
        // The answer to our own close frame: the closing handshake is complete.
        this.afterCloseAnswer();
      } else if (f.opcode === OPCODE.CLOSE && this.autoClose && !this.closeSent) {
        const { code, reason } = closeBody(f.payload);
        try {
          void this.sendClose(code, reason);
        } catch {
          // A code that may not be sent (or a reason too long): answer with an empty close body.
          void this.sendClose();
        }
        this.afterCloseAnswer();
      }
    });
    socket.on('error', () => {});
    this.closed = new Promise((resolve) => socket.once('close', () => resolve()));
    socket.on('data', (chunk: Buffer) => this.#onData(chunk));
  }

  #onData(chunk: Buffer): void {
    if (this.#headBuf === undefined) {
      this.#recorder.push(chunk);
      return;
    }
    this.#headBuf = Buffer.concat([this.#headBuf, chunk]);
    const end = this.#headBuf.indexOf('\r\n\r\n');
    if (end === -1) return;
    this.head = this.#headBuf.toString('latin1', 0, end);
    const rest = this.#headBuf.subarray(end + 4);
    this.#headBuf = undefined;
    this.onHead(this.head);
    if (rest.length > 0) this.#recorder.push(rest);
  }

  protected abstract onHead(head: string): void;
  protected abstract get masks(): boolean;
  /** What the peer does once it has answered a close frame (the server closes the TCP connection first). */
  protected afterCloseAnswer(): void {}

  /** The frames received after the handshake (payloads unmasked). */
  get frames(): RawFrame[] {
    return this.#recorder.frames;
  }

  /** How many bytes arrived after the handshake. */
  get receivedLength(): number {
    return this.#recorder.length;
  }

  /** Every byte received after the handshake (needs record: true). */
  received(): Buffer {
    return this.#recorder.bytes();
  }

  /** Writes bytes as they are (already encoded frames, or anything else); resolves once flushed to the kernel. */
  write(bytes: Buffer): Promise<void> {
    this.sent.push(bytes);
    return new Promise((resolve) => {
      if (this.socket.destroyed) return resolve();
      this.socket.write(bytes, () => resolve());
    });
  }

  /** Every byte this peer wrote after the handshake. */
  sentBytes(): Buffer {
    return Buffer.concat(this.sent);
  }

  /** Encodes and writes one frame, masked with a random key when this peer is a client. */
  send(spec: { opcode: number; payload?: Buffer | string; fin?: boolean; rsv1?: boolean }): Promise<void> {
    return this.write(encodeFrame({ ...spec, maskKey: this.masks ? randomBytes(4) : undefined }));
  }

  sendClose(code?: number, reason = ''): Promise<void> {
    this.closeSent = true;
    return this.write(encodeClose(code, reason, this.masks ? randomBytes(4) : undefined));
  }

  /** Waits until a close frame has arrived and returns it. */
  async waitForClose(timeoutMs = 10_000): Promise<RawFrame> {
    await waitUntil(() => this.frames.some((f) => f.opcode === OPCODE.CLOSE), 'a close frame', timeoutMs);
    return this.frames.find((f) => f.opcode === OPCODE.CLOSE)!;
  }
}

export type UpstreamOptions = PeerOptions & {
  /** The Sec-WebSocket-Extensions value of the 101 (e.g. "permessage-deflate"); none when absent. */
  extensions?: string;
  /** Frame bytes written in the same write as the 101, so they arrive together with the response head. */
  greeting?: Buffer;
};

/** One connection accepted by a raw upstream. */
export class RawUpstreamConnection extends RawPeer {
  #extensions: string | undefined;
  #greeting: Buffer | undefined;
  #onUpgraded: (c: RawUpstreamConnection) => void;

  constructor(socket: net.Socket, options: UpstreamOptions, onUpgraded: (c: RawUpstreamConnection) => void) {
    super(socket, options);
    this.#extensions = options.extensions;
    this.#greeting = options.greeting;
    this.#onUpgraded = onUpgraded;
  }

  protected override get masks(): boolean {
    return false;
  }

  /** The request target of the handshake (e.g. "/run-3"). */
  get path(): string {
    return this.head.split(' ')[1] ?? '';
  }

  protected override onHead(head: string): void {
    const key = /^sec-websocket-key:\s*(\S+)/im.exec(head)?.[1] ?? '';
    const lines = [
      'HTTP/1.1 101 Switching Protocols',
      'Upgrade: websocket',
      'Connection: Upgrade',
      `Sec-WebSocket-Accept: ${computeAcceptKey(key)}`,
    ];
    if (this.#extensions !== undefined) lines.push(`Sec-WebSocket-Extensions: ${this.#extensions}`);
    const response = Buffer.from(`${lines.join('\r\n')}\r\n\r\n`, 'latin1');
    if (this.#greeting) this.sent.push(this.#greeting);
    this.socket.write(this.#greeting ? Buffer.concat([response, this.#greeting]) : response);
    this.#onUpgraded(this);
  }

  protected override afterCloseAnswer(): void {
    // RFC 6455 §7.1.1: the server closes the TCP connection first once the closing handshake is done.
    this.socket.end();
  }
}

export type RawUpstream = {
  port: number;
  url: string;
  connections: RawUpstreamConnection[];
  /** The connection whose handshake asked for `path`, once it has been answered. */
  connection(path: string, timeoutMs?: number): Promise<RawUpstreamConnection>;
};

/** A WebSocket upstream that answers every handshake with a 101 and then only records (and answers closes). */
export async function startRawUpstream(t: TestContext, options: UpstreamOptions = {}): Promise<RawUpstream> {
  const connections: RawUpstreamConnection[] = [];
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    new RawUpstreamConnection(socket, options, (c) => connections.push(c));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  t.after(
    () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  );
  return {
    port,
    url: `ws://127.0.0.1:${port}`,
    connections,
    async connection(path, timeoutMs = 10_000) {
      await waitUntil(() => connections.some((c) => c.path === path), `an upstream connection for ${path}`, timeoutMs);
      return connections.find((c) => c.path === path)!;
    },
  };
}

export type ClientOptions = PeerOptions & {
  path?: string;
  /** Extra request header lines, e.g. "Sec-WebSocket-Extensions: permessage-deflate". */
  headers?: string[];
};

/** A WebSocket client on a bare socket: the handshake, then exact bytes. Frames it sends are masked. */
export class RawWsClient extends RawPeer {
  readonly key: string;
  #upgraded: Promise<void>;
  #resolveUpgraded!: () => void;

  private constructor(socket: net.Socket, options: ClientOptions) {
    super(socket, options);
    this.key = randomBytes(16).toString('base64');
    this.#upgraded = new Promise((resolve) => {
      this.#resolveUpgraded = resolve;
    });
  }

  protected override get masks(): boolean {
    return true;
  }

  protected override onHead(): void {
    this.#resolveUpgraded();
  }

  /** Connects, sends the handshake, and checks the 101 (status and Sec-WebSocket-Accept). */
  static async connect(t: TestContext, port: number, options: ClientOptions = {}): Promise<RawWsClient> {
    const socket = net.connect(port, '127.0.0.1');
    socket.setNoDelay(true);
    t.after(() => socket.destroy());
    const client = new RawWsClient(socket, options);
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', () => resolve());
      socket.once('error', reject);
    });
    const lines = [
      `GET ${options.path ?? '/'} HTTP/1.1`,
      'Host: wsgate.test',
      'Connection: Upgrade',
      'Upgrade: websocket',
      'Sec-WebSocket-Version: 13',
      `Sec-WebSocket-Key: ${client.key}`,
      ...(options.headers ?? []),
    ];
    socket.write(`${lines.join('\r\n')}\r\n\r\n`);
    const timeout = new Promise<never>((_, reject) => {
      const timer = setTimeout(() => reject(new Error('no 101 within 10 s')), 10_000);
      timer.unref();
      void client.#upgraded.then(() => clearTimeout(timer));
    });
    await Promise.race([client.#upgraded, timeout, client.closed.then(() => Promise.reject(new Error('closed')))]);
    if (!/^HTTP\/1\.1 101 /.test(client.head)) throw new Error(`handshake refused: ${client.head}`);
    const accept = /^sec-websocket-accept:\s*(\S+)/im.exec(client.head)?.[1];
    if (accept !== computeAcceptKey(client.key)) throw new Error(`wrong Sec-WebSocket-Accept in ${client.head}`);
    return client;
  }
}
