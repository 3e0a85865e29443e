// listeners[].proxyProtocol: behind a layer-4 balancer (HAProxy, AWS NLB, nginx stream) every connection starts
// with a PROXY protocol header naming the client. The gate reads it off each new connection before Node's HTTP or
// TLS server sees a byte, and from then on the socket reports the client's address: access lines, X-Forwarded-For,
// per-client limits, trustForwarded and the traffic log all see the client, not the balancer; an IPv4 client named in
// IPv4-mapped form (TCP6 `::ffff:a.b.c.d`), or met on a dual-stack socket, is seen as `a.b.c.d`. A connection that
// should carry a header and does not (a direct client, a balancer not set to send it) is closed with one line
// saying so; one that looks like HTTP gets a 400 that says it too, for the person with curl.
//
// How: the server's own 'connection' listener (Node's HTTP or TLS one) is taken over and run once the header is read
// and the front has admitted the connection, with the bytes after it put back into the socket. Tunnel sockets the
// front hands to its server, and connections the settings do not cover, go straight to admission, in the same call.
import type net from 'node:net';
import type tls from 'node:tls';
import { formatDuration } from '../config/units.ts';
import { WsgateError } from '../errors.ts';
import type { Logger } from '../log/logger.ts';
import { type Cidr, cidrsContain, compileCidrs } from '../net/cidr.ts';
import { ignoreError } from '../net/ignore-error.ts';
import { plainAddress } from '../net/ip.ts';
import { type ProxiedAddress, type ProxyHeader, parseProxyHeader } from '../net/proxy-protocol.ts';
import type { ConnectionEnds } from '../net/proxy-protocol-send.ts';
import { writeErrorToSocket } from './error-response.ts';

/** listeners[].proxyProtocol as the config resolves it: `from` undefined means every peer sends the header. */
export type ProxyProtocolSpec = { from?: readonly string[] | undefined };

/** The header's deadline when limits.headersTimeout is off: a balancer writes it at once. */
export const DEFAULT_PROXY_HEADER_MS = 10_000;

type Settings = { from: readonly Cidr[] | undefined; timeoutMs: number };

type Listener = (socket: net.Socket) => void;

/**
 * For sockets whose peer was replaced by a header's source: the balancer's own address, and the address the client
 * connected to at the balancer (the header's destination).
 */
const proxiedSockets = new WeakMap<
  net.Socket,
  { balancer: string | undefined; destination?: ProxiedAddress; tls?: boolean }
>();

function proxiedOf(socket: net.Socket) {
  return proxiedSockets.get(socket) ?? proxiedSockets.get((socket as { _parent?: net.Socket })._parent as net.Socket);
}

/**
 * The peer that wrote the PROXY header (the balancer), when the socket's address came from one (a header that named
 * no address, LOCAL or UNKNOWN, left the peer's own: undefined then).
 */
export function proxiedBy(socket: net.Socket): string | undefined {
  return proxiedOf(socket)?.balancer;
}

/**
 * Whether the balancer's header says the client spoke TLS to it (PP2_TYPE_SSL, HAProxy send-proxy-v2-ssl): the
 * balancer terminated TLS, so this connection is plain but the client's scheme is https.
 */
export function proxiedTls(socket: net.Socket): boolean {
  return proxiedOf(socket)?.tls === true;
}

/**
 * The client's connection as a PROXY header sent upstream names it (upstreams[].proxyProtocol): the client, and the
 * address it connected to: the one the balancer's header named, else this listener's (as HAProxy's src and dst).
 */
export function clientEnds(socket: net.Socket): ConnectionEnds {
  const proxied = proxiedOf(socket);
  const destination = proxied?.destination;
  const tlsSocket = (socket as Partial<tls.TLSSocket>).encrypted === true ? (socket as tls.TLSSocket) : undefined;
  const tlsVersion = tlsSocket?.getProtocol() ?? undefined;
  return {
    remoteAddress: socket.remoteAddress,
    remotePort: socket.remotePort,
    localAddress: destination?.address ?? socket.localAddress,
    localPort: destination?.port ?? socket.localPort,
    ...(tlsSocket !== undefined || proxied?.tls === true ? { tls: true } : {}),
    ...(tlsVersion === undefined ? {} : { tlsVersion }),
  };
}

/**
 * The address Node reports for `socket` from now on (remoteAddress, remotePort, remoteFamily): net.Socket caches
 * its peer's name in `_peername` on first use and reads it from there after.
 */
function setPeer(socket: net.Socket, source: ProxiedAddress): void {
  (socket as unknown as { _peername: ProxiedAddress })._peername = { ...source };
}

/** An IPv4-mapped address, as the header or a dual-stack socket gives it, reported as the IPv4 client it is. */
function plainSource(source: ProxiedAddress): ProxiedAddress {
  const address = plainAddress(source.address);
  return address === source.address ? source : { address, port: source.port, family: 'IPv4' };
}

/**
 * A client of a dual-stack listener (`[::]:port`) connecting over IPv4 is reported by Node as `::ffff:a.b.c.d`: from
 * here on the socket reports `a.b.c.d`, as on an IPv4 listener, so access lines, X-Forwarded-For, Forwarded,
 * per-client limits and the traffic log all name it one way (nginx's $remote_addr does the same).
 */
function plainPeer(socket: net.Socket): void {
  const address = socket.remoteAddress;
  if (address === undefined || socket.remoteFamily !== 'IPv6') return;
  const plain = plainAddress(address);
  if (plain !== address) setPeer(socket, { address: plain, port: socket.remotePort ?? 0, family: 'IPv4' });
}

/**
 * A TLS socket asks the TCP handle for its peer, not the socket it wraps: it takes the address the header gave
 * that socket, or its own IPv4-mapped one as IPv4. Called before Node's HTTP server hears of the TLS connection,
 * and for failed handshakes.
 */
export function adoptProxiedPeer(socket: tls.TLSSocket): void {
  const raw = (socket as unknown as { _parent?: net.Socket })._parent;
  const peer =
    raw === undefined || !proxiedSockets.has(raw)
      ? undefined
      : (raw as unknown as { _peername?: ProxiedAddress })._peername;
  if (peer !== undefined) setPeer(socket as unknown as net.Socket, peer);
  else plainPeer(socket as unknown as net.Socket);
}

export class ProxyHeaderGate {
  #settings: Settings | undefined;
  #log: Logger;
  #waiting = new Set<net.Socket>();
  #refused: (code: string) => void;

  /**
   * Takes over `server`'s 'connection' listeners. `passThrough` names sockets that never carry a header (tunnels
   * the front serves with the same server); `admit` is asked once the client is known (after the header) and runs
   * the listeners only when it says yes: a refused connection (it wrote the answer) never reaches Node's parser, so
   * no request of it is served after its refusal. `refused` hears of each connection closed for its header, by code.
   */
  /** A reload renamed the listener: lines from now on carry its new name. */
  set log(log: Logger) {
    this.#log = log;
  }

  constructor(
    server: net.Server,
    log: Logger,
    hooks: {
      passThrough: (socket: net.Socket) => boolean;
      admit: (socket: net.Socket) => boolean;
      refused: (code: string) => void;
    },
  ) {
    this.#log = log;
    this.#refused = hooks.refused;
    const { passThrough, admit } = hooks;
    const listeners = server.listeners('connection') as Listener[];
    server.removeAllListeners('connection');
    const handOn = (socket: net.Socket) => {
      if (!admit(socket)) return;
      for (const listener of listeners) listener.call(server, socket);
    };
    server.on('connection', (socket: net.Socket) => {
      plainPeer(socket);
      const settings = this.#settings;
      if (settings === undefined || passThrough(socket) || !this.#expects(settings, socket)) handOn(socket);
      else this.#read(socket, settings, handOn);
    });
  }

  /** New settings apply to connections accepted from now on; undefined turns the gate off. */
  update(spec: ProxyProtocolSpec | undefined, headersTimeoutMs: number): void {
    this.#settings =
      spec === undefined
        ? undefined
        : {
            from: spec.from === undefined ? undefined : compileCidrs(spec.from),
            timeoutMs: headersTimeoutMs > 0 ? headersTimeoutMs : DEFAULT_PROXY_HEADER_MS,
          };
  }

  /** Connections still owing their header: nothing is in flight on them, so shutdown closes them first. */
  closeWaiting(): void {
    for (const socket of this.#waiting) socket.destroy();
  }

  #expects(settings: Settings, socket: net.Socket): boolean {
    return settings.from === undefined || cidrsContain(settings.from, socket.remoteAddress);
  }

  #read(socket: net.Socket, settings: Settings, handOn: Listener): void {
    const peer = socket.remoteAddress;
    // Chunks so far; joined only when they may complete the header (a trickled v2 header is joined once, not per byte).
    const chunks: Buffer[] = [];
    let size = 0;
    let need = 0;
    this.#waiting.add(socket);
    const finish = () => {
      clearTimeout(timer);
      socket.off('data', onData);
      socket.off('error', onError);
      socket.off('close', onClose);
      this.#waiting.delete(socket);
    };
    const timer = setTimeout(() => {
      finish();
      const err = new WsgateError('WSG_PROXY_HEADER_TIMEOUT', {
        peer: peer ?? 'a client',
        timeout: formatDuration(settings.timeoutMs),
      });
      this.#log.warn({ event: 'conn.proxy_header_timeout', code: err.code, peer, ms: settings.timeoutMs }, err.message);
      this.#refused(err.code);
      socket.destroy();
    }, settings.timeoutMs);
    const onError = () => {
      finish();
      socket.destroy();
    };
    const onClose = () => finish();
    const onData = (chunk: Buffer) => {
      chunks.push(chunk);
      size += chunk.length;
      if (size < need) return;
      const received = chunks.length === 1 ? chunk : Buffer.concat(chunks, size);
      chunks.length = 0;
      chunks.push(received);
      const parse = parseProxyHeader(received);
      if (parse.kind === 'more') {
        need = parse.need ?? 0;
        return;
      }
      finish();
      if (parse.kind === 'invalid') {
        this.#refuse(socket, peer, parse.reason, received);
        return;
      }
      socket.pause();
      if (received.length > parse.header.length) socket.unshift(received.subarray(parse.header.length));
      this.#accept(socket, peer, parse.header);
      handOn(socket);
      // Node's HTTP server listens for 'data' and needs the socket flowing again. A TLS server reads the bytes put
      // back itself, on its next tick: a flowing socket would have emitted them to no one by then.
      if (socket.listenerCount('data') > 0) socket.resume();
    };
    socket.on('data', onData);
    socket.on('error', onError);
    socket.on('close', onClose);
  }

  #accept(socket: net.Socket, peer: string | undefined, header: ProxyHeader): void {
    if (header.source !== undefined) {
      proxiedSockets.set(socket, {
        balancer: peer,
        ...(header.destination === undefined ? {} : { destination: header.destination }),
        ...(header.tls === true ? { tls: true } : {}),
      });
      setPeer(socket, plainSource(header.source));
    }
    this.#log.debug(
      {
        event: 'conn.proxied',
        peer,
        client: header.source === undefined ? undefined : plainAddress(header.source.address),
        clientPort: header.source?.port,
        version: header.version,
        tls: header.tls,
        authority: header.authority,
      },
      header.source === undefined
        ? `PROXY v${header.version} header from ${peer ?? 'a peer'} without an address (a health check): the peer's stands`
        : `PROXY v${header.version} header from ${peer ?? 'a peer'}: client ${plainAddress(header.source.address)}`,
    );
  }

  #refuse(socket: net.Socket, peer: string | undefined, reason: string, received: Buffer): void {
    const err = new WsgateError('WSG_PROXY_HEADER_INVALID', { peer: peer ?? 'a client', reason });
    this.#log.warn({ event: 'conn.proxy_header_invalid', code: err.code, peer, reason }, err.message);
    this.#refused(err.code);
    // Someone speaking HTTP straight to the port (curl, a balancer not set to send the header) is told why; a TLS
    // ClientHello or anything else has no one to read an answer.
    if (/^[A-Z]{3,10} /.test(received.subarray(0, 12).toString('latin1'))) {
      socket.on('error', ignoreError);
      writeErrorToSocket(socket, err);
    } else socket.destroy();
  }
}
