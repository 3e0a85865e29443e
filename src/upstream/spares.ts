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

/**
 * taken: a handshake went out on it; expired: nobody took it within preconnect; closed: the server closed it (or
 * spoke first) while it was held; failed: it could not be opened; lost: the server closed it just as a handshake was
 * written on it (the handshake was sent again on a new connection).
 */
export type SpareResult = 'taken' | 'expired' | 'closed' | 'failed' | 'lost';

type Slot = {
  /** The upstream's name, for what is reported. */
  upstream: string;
  spare: net.Socket | undefined;
  /** Stops watching the held spare (its listeners and timer). */
  release: () => void;
  dialing: boolean;
  /** performance.now() of the last handshake that asked. */
  lastAsked: number;
};

/** The slot of a server of `upstream` (its spares are per origin: a path does not change the connection). */
export function spareKey(upstream: string, server: URL): string {
  return `${upstream} ${server.origin}`;
}

/** Sockets that were spares when a handshake took them, with what reports one lost. */
const taken = new WeakMap<net.Socket, () => void>();

/** Whether `socket` waited as a spare before its handshake took it. */
export function isSpare(socket: net.Socket): boolean {
  return taken.has(socket);
}

/** The server closed this spare as its handshake was written (the handshake goes out again): counted as lost. */
export function spareLost(socket: net.Socket): void {
  taken.get(socket)?.();
  taken.delete(socket);
}

function noop(): void {}

/** Stops watching the slot's spare and empties the slot; the socket is its caller's to keep or close. */
function vacate(slot: Slot): void {
  slot.release();
  slot.release = noop;
  slot.spare = undefined;
}

export class UpstreamSpares {
  #slots = new Map<string, Slot>();
  #closed = false;
  #report: (upstream: string, result: SpareResult) => void;

  /** `report`: what became of each spare (the metrics). */
  constructor(report: (upstream: string, result: SpareResult) => void = noop) {
    this.#report = report;
  }

  /**
   * The spare waiting for `key` (a server of `upstream` and the settings it is dialed with), if any, for a handshake
   * about to dial it. Notes the handshake, and dials the next spare (after this turn) when handshakes come within
   * `wait`.
   */
  take(upstream: string, key: string, wait: number, dial: () => Promise<net.Socket>): net.Socket | undefined {
    if (wait <= 0 || this.#closed) return undefined;
    const now = performance.now();
    let slot = this.#slots.get(key);
    if (slot === undefined) {
      slot = { upstream, spare: undefined, release: noop, dialing: false, lastAsked: Number.NEGATIVE_INFINITY };
      this.#slots.set(key, slot);
    }
    let spare = slot.spare;
    if (spare !== undefined && (spare.destroyed || !spare.writable)) spare = undefined;
    const often = spare !== undefined || now - slot.lastAsked <= wait;
    slot.lastAsked = now;
    if (slot.spare !== undefined) vacate(slot);
    if (spare !== undefined) {
      spare.ref();
      taken.set(spare, () => this.#report(upstream, 'lost'));
      this.#report(upstream, 'taken');
    }
    if (often && !slot.dialing) this.#fill(key, slot, wait, dial);
    return spare;
  }

  /** Spares held now (what the tests check). */
  get held(): number {
    let n = 0;
    for (const slot of this.#slots.values()) if (slot.spare !== undefined) n++;
    return n;
  }

  /** Whether a spare is held now for `key` (spareKey): 0 or 1, for the admin API's `spares`. */
  heldFor(key: string): number {
    return this.#slots.get(key)?.spare === undefined ? 0 : 1;
  }

  /** Closes every held spare; later handshakes dial afresh (a reload's new settings, or shutdown). */
  closeAll(): void {
    for (const slot of this.#slots.values()) {
      const spare = slot.spare;
      vacate(slot);
      spare?.destroy();
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
          this.#report(slot.upstream, 'failed');
        },
      );
    });
  }

  #hold(slot: Slot, socket: net.Socket, wait: number): void {
    const drop = (result: SpareResult) => {
      if (slot.spare === socket) vacate(slot);
      else release();
      socket.destroy();
      this.#report(slot.upstream, result);
    };
    const onReadable = () => {
      // Bytes before any request: not an HTTP server's doing, so not a connection to hand a handshake.
      if (socket.readableLength > 0) drop('closed');
      else socket.read();
    };
    const onEnd = () => drop('closed');
    const timer = setTimeout(() => drop('expired'), wait);
    timer.unref();
    socket.unref();
    socket.on('readable', onReadable);
    socket.once('end', onEnd);
    socket.once('close', onEnd);
    const release = () => {
      clearTimeout(timer);
      socket.off('readable', onReadable);
      socket.off('end', onEnd);
      socket.off('close', onEnd);
    };
    slot.spare = socket;
    slot.release = release;
  }
}
