// How long WebSocket handshakes that opened take, as Prometheus histograms by listener and route: the whole
// handshake, and the time until the upstream connection was made (events.ts dialMs: routing, DNS, TLS, an upstream
// proxy's CONNECT, failover). Envoy's upstream_cx_connect_ms and
// nginx's $upstream_connect_time answer the same question: is it the way to the upstream, or the upstream?
import { Histogram, type Registry } from 'prom-client';
import type { WsOpenEvent } from '../events.ts';

/** Seconds: a loopback handshake takes about a millisecond, one through a slow corporate proxy several seconds. */
const BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

export class HandshakeTimings {
  #duration: Histogram<'listener' | 'route'>;
  #connect: Histogram<'listener' | 'route'>;

  constructor(prefix: string, registers: Registry[]) {
    this.#duration = new Histogram({
      name: `${prefix}ws_handshake_duration_seconds`,
      help: 'WebSocket handshakes that opened: from the request to the 101 relayed, by listener and route.',
      labelNames: ['listener', 'route'],
      buckets: BUCKETS,
      registers,
    });
    this.#connect = new Histogram({
      name: `${prefix}ws_upstream_connect_seconds`,
      help: 'WebSocket handshakes that opened: from the request until the upstream connection was made, by listener and route.',
      labelNames: ['listener', 'route'],
      buckets: BUCKETS,
      registers,
    });
  }

  observe(event: WsOpenEvent, listener: string): void {
    const labels = { listener, route: event.route };
    this.#duration.observe(labels, event.handshakeMs / 1000);
    if (event.dialMs !== undefined) this.#connect.observe(labels, event.dialMs / 1000);
  }
}
