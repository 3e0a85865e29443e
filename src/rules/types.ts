// The contract between the rules engine (pure, this folder) and the edges that carry its decisions out: the
// relay (websocket/relay.ts) for message rules, the session and joiner for connection faults, the Upgrade
// forwarder and forward/ for handshake and tunnel faults. Rules are plain data in the config; compileRules()
// turns them into these shapes once at load, and each connection gets its own ConnectionRules (counters, seeded
// randomness, reorder windows) so that nothing is shared between connections.
import type { Direction } from '../events.ts';

/** What a message is, as rules see it. Control frames are messages too (ping, pong, close). */
export type MessageType = 'text' | 'binary' | 'ping' | 'pong' | 'close';

/** One whole message, unmasked and (when permessage-deflate was kept) inflated. */
export type RuleMessage = {
  direction: Direction;
  type: MessageType;
  data: Buffer;
};

/** A message the relay is to send, in order, per direction. */
export type OutMessage = RuleMessage & {
  /** Hold it this long before sending; order within a direction is kept (a later message waits behind it). */
  delayMs?: number;
  /** Send it split into this many frames (refragment); control messages are never split. */
  fragments?: number;
  /** Hold it until someone forwards (edited or not) or drops it, or the timeout applies (the hold action). */
  hold?: HoldOrder;
  /** An inject action's message (not the peer's): the relay reports it as wsgate's (origin "wsgate"). */
  injected?: boolean;
};

/** A hold action's order: later messages in the same direction wait behind the held one. */
export type HoldOrder = { rule: string; timeoutMs: number; onTimeout: 'forward' | 'drop' };

/** A close the relay is to send: code and reason to one side or both. */
export type CloseOrder = { code: number; reason: string; to: 'client' | 'server' | 'both' };

/** One rule acting on one message: becomes one `rule` event in the traffic log (and the inspector). */
export type RuleHit = {
  rule: string;
  /** The action or fault that acted: replace, setJson, deleteJson, drop, delay, inject, close, mark, dropEvery, … */
  action: string;
  /** What it did, for people: e.g. 'replaced 2 matches of /"typing"/', 'delayed 500ms'. */
  detail: string;
  /** A mark action's tag. */
  mark?: string;
};

/** What the relay does with one message that arrived. */
export type Verdict = {
  /** What to send instead of the message: [] drops it, [message] passes it (possibly changed), more injects. */
  send: OutMessage[];
  hits: RuleHit[];
  close?: CloseOrder;
};

/** Facts known when a connection (or CONNECT tunnel) starts, that connection-level matchers test. */
export type ConnectionFacts = {
  /** The listener's name. */
  listener: string;
  /** The route's name (reverse) or the forward listener's route name. */
  route: string;
  /** The target host, lower case, without the port. */
  host: string;
  port: number;
  /** The origin-form path without the query ("" for a CONNECT tunnel). */
  path: string;
};

/** Faults on the handshake or the tunnel, decided before any WebSocket frame. */
export type HandshakeFaults = {
  /**
   * Forward the Upgrade as a plain GET (Upgrade and Connection removed) and relay whatever the upstream answers.
   * `inTunnels: false` leaves handshakes inside CONNECT tunnels alone, as a proxy that cannot see into them does
   * (Squid: only the absolute-form ws:// requests it parses lose their Upgrade). Default true.
   */
  stripUpgrade?: { rule: string; inTunnels?: boolean };
  /**
   * Answer the CONNECT (and an absolute-form request) with this status (407 carries Proxy-Authenticate).
   * `exceptPorts`: targets on these ports pass (Squid's `http_access deny CONNECT !SSL_ports` with SSL_ports 443).
   */
  rejectConnect?: { rule: string; status: 403 | 407; exceptPorts?: readonly number[] };
  /** Answer the Upgrade with this status instead of forwarding it. */
  rejectUpgrade?: { rule: string; status: number };
  /** Intercept TLS with a leaf from a second CA the client does not trust. */
  untrustedCert?: { rule: string };
  /** Remove Sec-WebSocket-Extensions from the handshake. */
  stripExtensions?: { rule: string };
};

/** Faults on a joined connection; all work on the byte-exact passthrough too. */
export type ConnectionFaults = {
  idleCut?: { rule: string; ms: number };
  maxLifetime?: { rule: string; ms: number };
  /** Bytes per second per direction. */
  throttle?: { rule: string; toUpstream?: number; toClient?: number };
  latency?: { rule: string; ms: number };
  /** Hold bytes and release them in bursts every `everyMs`. */
  buffer?: { rule: string; everyMs: number };
  /** Stop forwarding one direction without FIN. */
  halfOpen?: { rule: string; direction: Direction; afterMs: number };
  /** Reset both sockets (RST) after this many messages (both directions together). */
  resetAfter?: { rule: string; messages: number };
};

/** A message to send when the connection opens or every so often (a data message: the inject action's). */
export type Injection = {
  rule: string;
  message: RuleMessage & { type: 'text' | 'binary' };
  /** undefined: once at open; a number: every this many ms. */
  everyMs?: number;
};

/** Everything the rules say about one connection, with its own state. */
export interface ConnectionRules {
  /** Names of the rules that apply, in config order. */
  readonly names: readonly string[];
  /**
   * True when a message rule or a per-message fault can touch this connection: it must be relayed. Injections at
   * open and `every:` alone do not relay it: the passthrough inserts them at message boundaries.
   */
  readonly needsRelay: boolean;
  /** Whether the relay keeps permessage-deflate (inflate and re-deflate) or strips it from the handshake. */
  readonly deflate: 'strip' | 'keep';
  readonly handshake: HandshakeFaults;
  readonly connection: ConnectionFaults;
  /** Messages to send at open and periodically (by the relay, or on the passthrough by passthrough-control). */
  readonly injections: readonly Injection[];
  /**
   * Decides what happens to one message. Pure apart from this connection's own counters and seeded randomness.
   * `now` (ms, any monotonic clock, e.g. performance.now()) starts the maxWait of a reorder window it opens;
   * without it a window has no deadline.
   */
  onMessage(message: RuleMessage, now?: number): Verdict;
  /** Releases what a reorder window still holds, in arrival order (at close). */
  flush(direction: Direction): OutMessage[];
  /** When (on the clock of `now`) the first reorder window of this direction is due; undefined: nothing due. */
  deadline?(direction: Direction): number | undefined;
  /** Releases the reorder windows of this direction that are due at `now` (reorder maxWait), with their hits. */
  expire?(direction: Direction, now: number): Verdict;
}

/** Why each rule does or does not apply, for `wsgate check --explain`. */
export type RuleExplanation = { rule: string; applies: boolean; why: string; relays: boolean };
