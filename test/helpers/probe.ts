// A raw-socket RFC 6455 probe for the conformance suite: sends hand-made (often hostile) handshakes and frames
// and records what comes back. Modelled on ../shared/conformance/probe.mjs; the cases live in the test file.
import { createHash, randomBytes } from 'node:crypto';
import net from 'node:net';

const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';

export type ProbeFrame = {
  fin: number;
  rsv: number;
  op: number;
  masked: boolean;
  payload: Buffer;
  code: number | undefined;
};

export type ProbeResult = {
  status: number | undefined;
  accepted: boolean;
  respHead: string;
  frames: ProbeFrame[];
  closed: boolean;
};

export type ProbeCase = {
  name: string;
  send?: () => Buffer[];
  ext?: string;
  headers?: Record<string, string | null>;
  rawRequest?: (key: string) => string;
  expect: (r: ProbeResult) => boolean;
  /** The longest the case may take; it ends early once the connection closes or the expectation holds. */
  wait?: number;
  /** false for cases whose expectation needs the whole wait (e.g. "the connection stays open"). */
  endWhenExpected?: boolean;
  /** Set when wsgate, not the upstream, is expected to answer (and why): only the expectation is compared. */
  answeredByProxy?: string;
};

export function frame(o: {
  fin?: number;
  rsv?: number;
  op: number;
  payload?: Buffer | string;
  mask?: boolean;
  len64?: bigint;
}): Buffer {
  const { fin = 1, rsv = 0, op, mask = true, len64 } = o;
  const p = Buffer.from(o.payload ?? Buffer.alloc(0));
  const head = [(fin << 7) | (rsv << 4) | op];
  let ext = Buffer.alloc(0);
  const m = mask ? 0x80 : 0;
  if (len64 !== undefined) {
    head.push(m | 127);
    ext = Buffer.alloc(8);
    ext.writeBigUInt64BE(len64);
  } else if (p.length < 126) head.push(m | p.length);
  else if (p.length < 65536) {
    head.push(m | 126);
    ext = Buffer.alloc(2);
    ext.writeUInt16BE(p.length);
  } else {
    head.push(m | 127);
    ext = Buffer.alloc(8);
    ext.writeBigUInt64BE(BigInt(p.length));
  }
  if (!mask) return Buffer.concat([Buffer.from(head), ext, p]);
  const key = randomBytes(4);
  const masked = Buffer.from(p.map((b, i) => b ^ key[i & 3]!));
  return Buffer.concat([Buffer.from(head), ext, key, masked]);
}

export function closePayload(code: number, reason: Buffer | string = Buffer.alloc(0)): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(code);
  return Buffer.concat([b, Buffer.from(reason)]);
}

function parseFrames(buf: Buffer, out: ProbeFrame[]): Buffer {
  let o = 0;
  while (buf.length - o >= 2) {
    const b0 = buf[o]!;
    const b1 = buf[o + 1]!;
    let len = b1 & 0x7f;
    let off = o + 2;
    if (len === 126) {
      if (buf.length < off + 2) break;
      len = buf.readUInt16BE(off);
      off += 2;
    } else if (len === 127) {
      if (buf.length < off + 8) break;
      len = Number(buf.readBigUInt64BE(off));
      off += 8;
    }
    const masked = (b1 & 0x80) !== 0;
    if (masked) off += 4;
    if (buf.length < off + len) break;
    const payload = buf.subarray(off, off + len);
    out.push({
      fin: b0 >> 7,
      rsv: (b0 >> 4) & 7,
      op: b0 & 15,
      masked,
      payload,
      code: (b0 & 15) === 8 && len >= 2 ? payload.readUInt16BE(0) : undefined,
    });
    o = off + len;
  }
  return buf.subarray(o);
}

/** Runs one case against 127.0.0.1:port; resolves with what came back once the peer closes or the wait is over. */
export function runProbe(port: number, path: string, c: ProbeCase): Promise<ProbeResult> {
  return new Promise((resolve) => {
    const key = randomBytes(16).toString('base64');
    const sock = net.connect({ host: '127.0.0.1', port });
    let hdrBuf: Buffer = Buffer.alloc(0);
    let rest: Buffer = Buffer.alloc(0);
    const result: ProbeResult = { status: undefined, accepted: false, respHead: '', frames: [], closed: false };
    const headers: Record<string, string | null> = {
      Host: `127.0.0.1:${port}`,
      Upgrade: 'websocket',
      Connection: 'Upgrade',
      'Sec-WebSocket-Key': key,
      'Sec-WebSocket-Version': '13',
      ...(c.ext ? { 'Sec-WebSocket-Extensions': c.ext } : {}),
      ...c.headers,
    };
    let done = false;
    const finish = () => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      sock.destroy();
      resolve(result);
    };
    // Generous: on a loaded 2-core machine an answer can take a while, and a case that passes ends early anyway.
    const timer = setTimeout(finish, c.wait ?? 5000);
    const settled = () => {
      try {
        return c.expect(result);
      } catch {
        return false;
      }
    };
    sock.on('connect', () => {
      if (c.rawRequest) {
        sock.write(c.rawRequest(key));
        return;
      }
      const lines = Object.entries(headers)
        .filter(([, v]) => v !== null)
        .map(([k, v]) => `${k}: ${v}\r\n`)
        .join('');
      sock.write(`GET ${path} HTTP/1.1\r\n${lines}\r\n`);
    });
    sock.on('data', (d: Buffer) => {
      if (result.status === undefined) {
        hdrBuf = Buffer.concat([hdrBuf, d]);
        const i = hdrBuf.indexOf('\r\n\r\n');
        if (i < 0) return;
        result.respHead = hdrBuf.subarray(0, i).toString('latin1');
        result.status = Number(result.respHead.split(' ')[1]);
        const accept = /sec-websocket-accept:\s*(\S+)/i.exec(result.respHead)?.[1];
        result.accepted =
          accept ===
          createHash('sha1')
            .update(key + GUID)
            .digest('base64');
        rest = hdrBuf.subarray(i + 4);
        if (result.status === 101 && c.send) for (const f of c.send()) sock.write(f);
      } else rest = Buffer.concat([rest, d]);
      rest = parseFrames(rest, result.frames);
      // A verdict that can only get more true (a close code arrived, an echo came back) ends the case early;
      // cases that expect the connection to stay open run to their wait.
      if (c.endWhenExpected !== false && settled()) finish();
    });
    sock.on('error', () => {});
    sock.on('close', () => {
      if (done) return;
      result.closed = true;
      finish();
    });
  });
}
