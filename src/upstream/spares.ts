// Spare upstream connections (upstreams[].preconnect; Envoy's preconnect_policy, a browser's preconnect): while
// WebSocket handshakes to a server come less than `wait` apart, one connection to it is dialed ahead and held
// unused, so the next handshake is written at once instead of waiting for TCP (and TLS for wss://). A lone
// handshake leaves nothing behind: a spare is dialed only when the handshake before came within `wait`, or took the
// spare before it.
//
// A held spare is watched the way client-watch.ts watches a client: a 'readable' listener reads nothing, so an end
// of stream (the server closed it) or bytes (a server that speaks first, which no HTTP server does) are seen and the
// spare is dropped. It is unref'd (an idle spare never keeps the process alive) and closed after `wait`, well
// before a server's own limit for a connection that sends nothing (nginx's client_header_timeout is 60 s, Tomcat's
// connectionTimeout 20 s). A server may still close it just as it is taken: isSpare() lets the handshake send itself
// again on a new connection when the spare ended before any byte of the answer.
import type net from 'node:net';

type Slot = {
  spare: net.Socket | undefined;
  /** Stops watching the held spare (its listeners and timer). */
  release: () => void;
  dialing: boolean;
  /** performance.now() of the last handshake that asked. */
  lastAsked: number;
};

/** Sockets that were spares when a handshake took them. */
const taken = new WeakSet<net.Socket>();

/** Whether `socket` waited as a spare before its handshake took it. */
export function isSpare(socket: net.Socket): boolean {
  return taken.has(socket);
}

function noop(): void {}

export class UpstreamSpares {
  #slots = new Map<string, Slot>();
  #closed = false;

  /**
   * The spare waiting for `key` (a server and the settings it is dialed with), if any, for a handshake about to
   * dial it. Notes the handshake, and dials the next spare (after this turn) when handshakes come within `wait`.
   */
  take(key: string, wait: number, dial: () => Promise<net.Socket>): net.Socket | undefined {
    if (wait <= 0 || this.#closed) return undefined;
    const now = performance.now();
    let slot = this.#slots.get(key);
    if (slot === undefined) {
      slot = { spare: undefined, release: noop, dialing: false, lastAsked: Number.NEGATIVE_INFINITY };
      this.#slots.set(key, slot);
    }
    let spare = slot.spare;
    if (spare !== undefined && (spare.destroyed || !spare.writable)) spare = undefined;
    const often = spare !== undefined || now - slot.lastAsked <= wait;
    slot.lastAsked = now;
    if (slot.spare !== undefined) {
      slot.release();
      slot.release = noop;
      slot.spare = undefined;
    }
    if (spare !== undefined) {
      spare.ref();
      taken.add(spare);
    }
    if (often && !slot.dialing) this.#fill(key, slot, wait, dial);
    return spare;
  }

  /** Spares held now (for tests and the admin API's view). */
  get held(): number {
    let n = 0;
    for (const slot of this.#slots.values()) if (slot.spare !== undefined) n++;
    return n;
  }

  /** Closes every held spare; later handshakes dial afresh (a reload's new settings, or shutdown). */
  closeAll(): void {
    for (const slot of this.#slots.values()) {
      slot.release();
      slot.spare?.destroy();
      slot.spare = undefined;
    }
    this.#slots.clear();
  }

  /** closeAll, and no spare from now on (shutdown). */
  close(): void {
    this.#closed = true;
    this.closeAll();
  }

  #fill(key: string, slot: Slot, wait: number, dial: () => Promise<net.Socket>): void {
    slot.dialing = true;
    // After this turn: the handshake that asked goes first.
    setImmediate(() => {
      dial().then(
        (socket) => {
          slot.dialing = false;
          if (this.#closed || this.#slots.get(key) !== slot || slot.spare !== undefined) socket.destroy();
          else this.#hold(slot, socket, wait);
        },
        // A server that cannot be reached now is the next handshake's to find and report; a spare is no handshake.
        () => {
          slot.dialing = false;
        },
      );
    });
  }

  #hold(slot: Slot, socket: net.Socket, wait: number): void {
    const drop = () => {
      release();
      socket.destroy();
      if (slot.spare === socket) {
        slot.spare = undefined;
        slot.release = noop;
      }
    };
    const onReadable = () => {
      // Bytes before any request: not an HTTP server's doing, so not a connection to hand a handshake.
      if (socket.readableLength > 0) drop();
      else socket.read();
    };
    const timer = setTimeout(drop, wait);
    timer.unref();
    socket.unref();
    socket.on('readable', onReadable);
    socket.once('end', drop);
    socket.once('close', drop);
    const release = () => {
      clearTimeout(timer);
      socket.off('readable', onReadable);
      socket.off('end', drop);
      socket.off('close', drop);
    };
    slot.spare = socket;
    slot.release = release;
  }
}
