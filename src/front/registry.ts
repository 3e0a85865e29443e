// What a listener holds open: WebSocket sessions, client sockets taken over from the HTTP server (upgrades and
// CONNECTs), and blind tunnels. Graceful close lives here so every entry kind drains the same way: sessions get
// Close 1001 between frames, the grace period bounds everything, then whatever is left is cut.
import type { LiveSession } from '../websocket/session.ts';

/** Which server of a pool a WebSocket went to: the upstream's name and the server's origin. */
export type PoolServerOf = { upstream: string; server: string };

/** A blind tunnel that shutdown can end. */
export type Terminable = { terminate(detail: string): void };

export class ConnectionRegistry {
  #sessions = new Set<LiveSession>();
  /** Sessions by connection id, for the admin API's send and close. */
  #byConn = new Map<string, LiveSession>();
  /** The pool server of each session that went to one (upstreams[].servers). */
  #pools = new Map<LiveSession, PoolServerOf>();
  #sockets = new Set<{ destroy(): void; on(event: 'close', listener: () => void): unknown }>();
  #tunnels = new Set<Terminable>();
  #closing = false;
  /** The Close reason of a drain (a reload's, or undefined: shutting down). */
  #closingReason: string | undefined;

  get closing(): boolean {
    return this.#closing;
  }

  /** Active WebSocket connections. */
  get sessionCount(): number {
    return this.#sessions.size;
  }

  /** Holds a socket the HTTP server no longer tracks (after 'upgrade' or 'connect') until it closes. */
  holdSocket(socket: { destroy(): void; on(event: 'close', listener: () => void): unknown }): void {
    this.#sockets.add(socket);
    socket.on('close', () => this.#sockets.delete(socket));
  }

  addSession(session: LiveSession, conn?: string, pool?: PoolServerOf): void {
    this.#sessions.add(session);
    if (conn !== undefined) this.#byConn.set(conn, session);
    if (pool !== undefined) this.#pools.set(session, pool);
    // A handshake that completes while the listener is closing still gets its Close 1001.
    if (this.#closing) session.goingAway(this.#closingReason);
    void session.done.then(() => {
      this.#sessions.delete(session);
      this.#pools.delete(session);
      if (conn !== undefined) this.#byConn.delete(conn);
    });
  }

  session(conn: string): LiveSession | undefined {
    return this.#byConn.get(conn);
  }

  sessionsTo(upstream: string, server: string): LiveSession[] {
    const found: LiveSession[] = [];
    for (const [session, pool] of this.#pools) {
      if (pool.upstream === upstream && pool.server === server) found.push(session);
    }
    return found;
  }

  /** Tracks a blind tunnel until `done` settles. */
  addTunnel(tunnel: Terminable, done: Promise<unknown>): void {
    this.#tunnels.add(tunnel);
    void done.finally(() => this.#tunnels.delete(tunnel));
  }

  /**
   * Drains: `stopAccepting` resolves once the server stopped listening and its tracked connections ended;
   * `closeIdle` and `closeAll` reach the server's own connections. Resolves when nothing is left.
   */
  async drain(
    graceMs: number,
    server: { stopAccepting: Promise<void>; closeIdle: () => void; closeAll: () => void },
    reason?: string,
  ): Promise<void> {
    this.#closing = true;
    this.#closingReason = reason;
    server.closeIdle();
    for (const session of this.#sessions) session.goingAway(reason);
    const timer = setTimeout(() => {
      server.closeAll();
      for (const session of this.#sessions) session.terminate('shutdown', 'grace period over');
      for (const tunnel of this.#tunnels) tunnel.terminate('grace period over');
      for (const socket of this.#sockets) socket.destroy();
    }, graceMs);
    const idle = setInterval(() => server.closeIdle(), 100);
    try {
      await server.stopAccepting;
      while (this.#sockets.size > 0 || this.#sessions.size > 0) {
        await new Promise((r) => setTimeout(r, 20));
      }
    } finally {
      clearTimeout(timer);
      clearInterval(idle);
    }
  }
}
