// The terminating relay: one WebSocket connection whose rules can touch its messages (ConnectionRules.needsRelay).
// Each direction is decoded (FrameDecoder) and assembled into whole messages (MessageAssembler), inflated when
// permessage-deflate was kept, handed to the rules as a RuleMessage, and the Verdict's messages are re-encoded
// toward their peer by a RelayWriter (masked toward the server with fresh keys, split, delayed in order). The relay
// speaks the closing handshake to each peer itself, fails a peer that breaks the protocol or a limit with the
// violation's close code (and tells the other peer 1001 or 1014), and keeps backpressure: a peer is not read
// while the writer toward the other is over limits.maxBufferedBytes, delayed messages included. Its events are
// relay-events.ts's; connection faults go through link-shaper.ts's lanes as on the passthrough.
// Size: over 400 lines because the closing handshake, the per-direction pipeline and the session controls share
// the connection's state (which Close went where, which socket is gone); split, that state would be passed around.
import type net from 'node:net';
import type { Direction } from '../events.ts';
import type { RuleSet } from '../rules/rule-set.ts';
import type { ConnectionRules, HoldOrder, OutMessage, RuleMessage, Verdict } from '../rules/types.ts';
import { MAX_CLOSE_REASON_BYTES, parseClosePayload } from './close.ts';
import { FrameDecoder, type FrameHandler } from './decoder.ts';
import { parseDeflateResponse } from './deflate.ts';
import { type FrameHeader, OPCODE } from './frame.ts';
import { startInjections } from './injector.ts';
import { Keepalive } from './keepalive.ts';
import { createLinkShaper, hasLinkFaults, type LinkShaper } from './link-shaper.ts';
import { type Message, MessageAssembler, type MessageSink } from './message.ts';
import { LIMIT_KEYS } from './observer.ts';
import { canReadPooled, switchToBorrowedReads } from './pooled-reads.ts';
import { type DirectionDeflate, directionDeflate } from './relay-deflate.ts';
import { type CloseInfo, RelayEvents } from './relay-events.ts';
import { type HoldDecision, HoldLane, type RuntimeHold } from './relay-hold.ts';
import { RelayWriter } from './relay-writer.ts';
import type { ControlResult, LiveSession, SessionInfo, SessionOptions } from './session.ts';
import { checkClose, terminationCode } from './session-report.ts';
import { createViolation, type Violation } from './violation.ts';

/** The session's options; limits.maxBufferedBytes bounds each writer (its socket's buffer and delayed messages). */
export type RelayOptions = SessionOptions;

type Side = 'client' | 'server';
type Cause = { by: 'client' | 'upstream' | 'wsgate'; how: string; detail?: string };
type Counters = { frames: number; messages: number; bytes: number };

const GOING_AWAY = 1001;
const BAD_GATEWAY = 1014;
const SHUTDOWN_REASON = 'wsgate is shutting down';

const other = (side: Side): Side => (side === 'client' ? 'server' : 'client');
const fromOf = (direction: Direction): Side => (direction === 'toUpstream' ? 'client' : 'server');
const toOf = (direction: Direction): Side => (direction === 'toUpstream' ? 'server' : 'client');
const toward = (side: Side): Direction => (side === 'server' ? 'toUpstream' : 'toClient');
const who = (side: Side): 'client' | 'upstream' => (side === 'client' ? 'client' : 'upstream');

/** Cuts a reason to what fits a close frame (123 bytes), on a character. */
function fitReason(reason: string): string {
  let r = reason;
  while (Buffer.byteLength(r) > MAX_CLOSE_REASON_BYTES) r = r.slice(0, -1);
  return r;
}

/**
 * Runs a relayed connection until both sockets are closed. `early.toClient` holds frame bytes the upstream sent
 * with its 101: unlike passthrough they were not written to the client, the relay reads them first. Client bytes
 * that came with the handshake wait unread in its socket.
 */
export function startRelay(
  client: net.Socket,
  upstream: net.Socket,
  info: SessionInfo,
  options: RelayOptions,
  early: { toClient: Buffer },
  rules: ConnectionRules,
): LiveSession {
  return new Relay(client, upstream, info, options, rules).start(early.toClient);
}

/** startRelay with the connection's rules bound: the same call as startSession, for the Upgrade forwarder. */
export function relayStarter(
  rules: ConnectionRules,
): (
  client: net.Socket,
  upstream: net.Socket,
  info: SessionInfo,
  options: RelayOptions,
  early: { toClient: Buffer },
) => LiveSession {
  return (client, upstream, info, options, early) => startRelay(client, upstream, info, options, early, rules);
}

/** Without limits.maxBufferedBytes (tests building options by hand): what limits.maxBufferedBytes defaults to. */
const DEFAULT_MAX_BUFFERED = 4 * 1024 * 1024;

/** One direction's decoding: frames → messages → the relay. */
class Inbound implements FrameHandler {
  readonly direction: Direction;
  readonly decoder: FrameDecoder;
  readonly counters: Counters = { frames: 0, messages: 0, bytes: 0 };
  readonly deflate: DirectionDeflate | undefined;
  /** Input from this peer is no longer read (it failed, or sent its Close). */
  ignoring = false;
  /** The peer's socket can lend its chunks (pooled-reads.ts): the assembler then copies every payload. */
  readonly borrowed: boolean;
  #assembler: MessageAssembler;
  #relay: Relay;

  constructor(
    relay: Relay,
    direction: Direction,
    options: RelayOptions,
    deflate: DirectionDeflate | undefined,
    borrowed: boolean,
  ) {
    this.#relay = relay;
    this.direction = direction;
    this.deflate = deflate;
    this.borrowed = borrowed;
    const limits = options.tap.limits;
    const sink: MessageSink = {
      onMessage: (m) => {
        if (this.ignoring) return;
        this.counters.messages += 1;
        relay.messageCounted();
        relay.dataMessage(this, m);
      },
      onControl: (h, payload) => {
        if (!this.ignoring) relay.controlFrame(this, h.opcode, Buffer.from(payload));
      },
      onViolation: (v) => relay.violation(this, v),
    };
    // A socket that reads borrowed chunks (#watch) gets its payloads copied, never kept as views of them.
    this.#assembler = new MessageAssembler(
      { maxMessageBytes: limits?.maxMessageBytes ?? Number.MAX_SAFE_INTEGER, views: !borrowed },
      sink,
    );
    this.decoder = new FrameDecoder(
      {
        expectMasked: direction === 'toUpstream',
        allowRsv1: deflate !== undefined,
        maxFrameBytes: limits?.maxFrameBytes,
        maxMessageBytes: limits?.maxMessageBytes,
        maxFragments: limits?.maxFragments,
        stopOnLimit: true,
      },
      this,
    );
  }

  push(chunk: Buffer): void {
    this.counters.bytes += chunk.length;
    if (!this.ignoring) this.decoder.push(chunk);
  }

  // The decoder's callbacks: count and report frames, and hand everything to the assembler.
  onFrameHeader(h: Readonly<FrameHeader>): void {
    this.counters.frames += 1;
    this.#relay.events.frame(this.direction, h);
    this.#assembler.onFrameHeader(h);
  }
  onPayload(slice: Uint8Array, offsetInFrame: number): void {
    this.#assembler.onPayload(slice, offsetInFrame);
  }
  onFrameEnd(h: Readonly<FrameHeader>): void {
    this.#assembler.onFrameEnd(h);
  }
  onViolation(v: Violation): void {
    this.#assembler.onViolation(v);
  }
  onControl(h: Readonly<FrameHeader>, payload: Uint8Array): void {
    this.#assembler.onControl(h, payload);
  }
}

class Relay {
  #client: net.Socket;
  #upstream: net.Socket;
  #info: SessionInfo;
  #options: RelayOptions;
  #rules: ConnectionRules;
  readonly events: RelayEvents;
  #in: { client: Inbound; server: Inbound };
  #out: { client: RelayWriter; server: RelayWriter };
  #started = performance.now();
  #cause: Cause | undefined;
  /** Close frames received from each peer. */
  #recv: { client?: CloseInfo; server?: CloseInfo } = {};
  /** A peer whose socket is gone, or that wsgate failed: no answer is awaited from it. */
  #gone = { client: false, server: false };
  #paused = { client: false, server: false };
  /**
   * Pings each peer sent that the relay passed on and the other peer has not answered with a pong yet
   * (limits.maxPendingPings, as the passthrough tap counts them; RFC 6455 §5.5.3: one pong answers them all).
   */
  #pendingPings = { client: 0, server: 0 };
  /** While a verdict is sent: the judged message's own buffer, which its writer may mask in place (#judge). */
  #owned: Buffer | undefined;
  /** Who began the closing: a peer's Close, wsgate's, or a peer's socket that went without one ('tcp'). */
  #first: Side | 'wsgate' | 'tcp' | undefined;
  #wsgateClose: CloseInfo | undefined;
  #linger: NodeJS.Timeout | undefined;
  /** Clears the timers of the rules' periodic injections (injector.ts). */
  #stopInjections: () => void = () => {};
  /** Per direction: the timer that releases a reorder window at its deadline (reorder maxWait), and that deadline. */
  #reorder: Record<Direction, { timer: NodeJS.Timeout; at: number } | undefined> = {
    toUpstream: undefined,
    toClient: undefined,
  };
  #keepalive: Keepalive | undefined;
  /** The RuleSet the connection's rules came from, or the last one a reload handed over. */
  #ruleSet: RuleSet | undefined;
  /** Connection faults (latency, throttle, idleCut, …) on the bytes the relay writes, as on the passthrough. */
  #shaper: LinkShaper | undefined;
  /** The hold action's queues (relay-hold.ts), and holds the admin API added to this connection. */
  #holds: Record<Direction, HoldLane>;
  #runtimeHolds: Partial<Record<Direction, RuntimeHold>> = {};
  #finished = false;

  constructor(
    client: net.Socket,
    upstream: net.Socket,
    info: SessionInfo,
    options: RelayOptions,
    rules: ConnectionRules,
  ) {
    this.#client = client;
    this.#upstream = upstream;
    this.#info = info;
    this.#options = options;
    this.#rules = rules;
    this.events = new RelayEvents(info, options.tap, options.emit);
    const params = rules.deflate === 'keep' ? parseDeflateResponse(info.extensions) : undefined;
    const max = options.tap.limits?.maxMessageBytes ?? options.tap.maxDecodedBytes;
    const toUp = params ? directionDeflate(params, 'toUpstream', max) : undefined;
    const toClient = params ? directionDeflate(params, 'toClient', max) : undefined;
    this.#in = {
      client: new Inbound(this, 'toUpstream', options, toUp, canReadPooled(client)),
      server: new Inbound(this, 'toClient', options, toClient, canReadPooled(upstream)),
    };
    this.#ruleSet = options.ruleSource?.();
    const onRoom = () => this.#resumeReaders();
    const maxBuffered = options.maxBufferedBytes ?? DEFAULT_MAX_BUFFERED;
    const shaper = hasLinkFaults(options.faults)
      ? createLinkShaper(options.faults, {
          client,
          upstream,
          maxBufferedBytes: maxBuffered,
          onEnd: (end) => this.#record({ by: 'wsgate', how: 'fault', detail: end.detail }),
        })
      : undefined;
    this.#shaper = shaper;
    const lane = (direction: Direction) =>
      shaper && { write: (b: Uint8Array) => shaper.sink(direction).write(b), end: () => shaper.endOnward(direction) };
    this.#out = {
      client: new RelayWriter(client, {
        masked: false,
        maxBufferedBytes: maxBuffered,
        deflate: toClient,
        onRoom,
        lane: lane('toClient'),
        onLaneFull: () => upstream.pause(),
      }),
      server: new RelayWriter(upstream, {
        masked: true,
        maxBufferedBytes: maxBuffered,
        deflate: toUp,
        onRoom,
        lane: lane('toUpstream'),
        onLaneFull: () => client.pause(),
      }),
    };
    let held = 0;
    const holdLane = (direction: Direction) =>
      new HoldLane({
        conn: info.conn,
        direction,
        nextId: () => `${info.conn}.h${(++held).toString(36)}`,
        send: (m) => this.#sendNow(m),
        onBytes: (delta) => this.#out[toOf(direction)].reserve(delta),
        onHold: (h) =>
          this.events.held(h, 'hold', `held until ${new Date(h.deadline).toISOString()}, then ${h.onTimeout}`),
        onDecision: (h, outcome, detail) => this.events.held(h, outcome, detail),
      });
    this.#holds = { toUpstream: holdLane('toUpstream'), toClient: holdLane('toClient') };
  }

  start(earlyToClient: Buffer): LiveSession {
    const info = this.#info;
    this.events.open();
    const done = new Promise<void>((resolve) => {
      let open = 2;
      const closed = () => {
        open -= 1;
        if (open === 0) {
          this.#end();
          resolve();
        }
      };
      for (const s of [this.#client, this.#upstream]) {
        if (s.closed) closed();
        else s.once('close', closed);
      }
    });
    this.#watch('client', this.#client);
    this.#watch('server', this.#upstream);
    if (this.#options.idleTimeout > 0) {
      this.#client.setTimeout(this.#options.idleTimeout, () =>
        this.terminate('idle', `no traffic for ${this.#options.idleTimeout} ms`),
      );
    }
    if (this.#options.keepalive !== undefined && this.#options.keepalive.intervalMs > 0) {
      this.#keepalive = new Keepalive(this.#options.keepalive, (side, payload) => {
        this.events.message(toward(side), 'ping', payload, undefined, undefined, 'wsgate');
        this.#out[side].sendControl('ping', payload);
      });
    }
    // A periodic injection toward a peer that does not read would grow wsgate's buffer without bound: while that
    // writer is over limits.maxBufferedBytes the tick is skipped (and said so), as a reader is paused.
    this.#stopInjections = startInjections(this.#rules.injections, {
      blocked: (injection) => {
        const to = toOf(injection.message.direction);
        return this.#out[to].full ? `skipped: the ${to} is not reading (limits.maxBufferedBytes)` : undefined;
      },
      send: (injection, hit) => {
        const m = injection.message;
        // The injected message is listed as wsgate's, and the hit names it.
        this.events.message(m.direction, m.type, m.data, undefined, undefined, 'wsgate');
        this.events.hits(m.direction, [hit], true);
        this.#send([m]);
      },
      skipped: (injection, hit) => this.events.hits(injection.message.direction, [hit]),
    });
    if (earlyToClient.length > 0) this.#in.server.push(earlyToClient);
    this.#upstream.resume();
    return {
      conn: info.conn,
      mode: 'relay',
      done,
      goingAway: (reason = SHUTDOWN_REASON) => {
        // What a fault still holds goes out first: the Close must follow it.
        this.#shaper?.release();
        this.#closeOrder(GOING_AWAY, reason, 'both', 'shutdown');
      },
      terminate: (how, detail) => this.terminate(how, detail),
      send: (to, message) => this.#control(to, message),
      close: (code, reason, to) => {
        const problem = checkClose(code, reason);
        if (problem !== undefined) return { ok: false, reason: problem };
        if (this.#finished) return { ok: false, reason: 'the connection is closed' };
        this.#closeOrder(code, reason, to, 'close');
        return { ok: true };
      },
      held: () => [...this.#holds.toUpstream.list(), ...this.#holds.toClient.list()],
      release: (id, decision) => this.#release(id, decision),
      holdRule: (rule) => {
        if (this.#finished) return { ok: false, reason: 'the connection is closed' };
        if (rule.on) this.#runtimeHolds[rule.direction] = rule;
        else delete this.#runtimeHolds[rule.direction];
        return { ok: true };
      },
    };
  }

  #release(id: string, decision: HoldDecision): ControlResult {
    if (this.#finished) return { ok: false, reason: 'the connection is closed' };
    for (const lane of Object.values(this.#holds)) if (lane.decide(id, decision)) return { ok: true };
    return { ok: false, reason: `no held message ${id} (forwarded, dropped or timed out already)` };
  }

  terminate(how: string, detail?: string): void {
    this.#record({ by: 'wsgate', how, ...(detail === undefined ? {} : { detail }) });
    this.#client.destroy();
    this.#upstream.destroy();
  }

  // --- sockets ---------------------------------------------------------------------------------------------------

  #watch(side: Side, socket: net.Socket): void {
    const inbound = this.#in[side];
    const onChunk = (chunk: Buffer): boolean => {
      this.#keepalive?.activity();
      this.#shaper?.activity();
      inbound.push(chunk);
      if (this.#out[other(side)].full && !this.#paused[side]) {
        this.#paused[side] = true;
        socket.pause();
      }
      return true;
    };
    // From its first chunk on, a TCP socket reads into wsgate's shared buffer (pooled-reads.ts): the decoder and the
    // assembler copy what they keep, so each chunk is only lent for the call.
    const onData = (chunk: Buffer) => {
      onChunk(chunk);
      if (inbound.borrowed && !this.#paused[side] && switchToBorrowedReads(socket, onChunk)) socket.off('data', onData);
    };
    socket.on('data', onData);
    socket.on('end', () => {
      if (this.#recv[side] === undefined) this.#record({ by: who(side), how: 'fin' });
      this.#lost(side);
      // Answer the FIN with ours once what is queued for this peer has left.
      this.#out[side].end();
    });
    socket.on('error', (err: NodeJS.ErrnoException) => {
      const rst = err.code === 'ECONNRESET' || err.code === 'EPIPE' || err.code === 'ECONNABORTED';
      this.#record({ by: who(side), how: rst ? 'rst' : 'error', detail: err.code ?? err.message });
      socket.destroy();
    });
    socket.once('close', () => {
      if (this.#recv[side] === undefined) this.#record({ by: who(side), how: 'rst' });
      this.#lost(side);
    });
  }

  #resumeReaders(): void {
    for (const side of ['client', 'server'] as const) {
      if (this.#paused[side] && !this.#out[other(side)].full) {
        this.#paused[side] = false;
        (side === 'client' ? this.#client : this.#upstream).resume();
      }
    }
  }

  #record(cause: Cause): void {
    this.#cause ??= cause;
  }

  // --- messages --------------------------------------------------------------------------------------------------

  /** resetAfter counts whole data messages, both directions together. */
  messageCounted(): void {
    this.#shaper?.messagesSeen(this.#in.client.counters.messages + this.#in.server.counters.messages);
  }

  dataMessage(inbound: Inbound, m: Message): void {
    const direction = inbound.direction;
    let data = m.data;
    if (m.compressed) {
      const result = inbound.deflate?.inflate(data);
      if (result === undefined || !result.ok) {
        const tooLarge = result !== undefined && !result.ok && result.reason === 'too-large';
        const limit = this.#options.tap.limits?.maxMessageBytes ?? this.#options.tap.maxDecodedBytes;
        if (tooLarge)
          this.violation(inbound, createViolation('WSG_WS_MESSAGE_TOO_LARGE', { length: `> ${limit}`, limit }));
        else this.#inflateFailed(inbound, result !== undefined && !result.ok ? result.detail : 'no inflater');
        return;
      }
      data = result.data;
    }
    const type = m.opcode === OPCODE.TEXT ? 'text' : 'binary';
    this.events.message(direction, type, data, m);
    // Its receiver already has wsgate's Close: the message goes nowhere, and no rule acts on it.
    if (this.#out[toOf(direction)].closeSent) return;
    this.#judge({ direction, type, data });
  }

  controlFrame(inbound: Inbound, opcode: number, payload: Buffer): void {
    const direction = inbound.direction;
    const side = fromOf(direction);
    if (opcode === OPCODE.CLOSE) {
      const parsed = parseClosePayload(payload);
      // An invalid close body was reported as a violation by the decoder; that peer is being failed.
      if (!parsed.ok) return;
      const close = { code: parsed.code, reason: parsed.reason };
      this.events.message(direction, 'close', payload, undefined, close);
      this.#peerClose(side, close, payload);
      return;
    }
    if (opcode === OPCODE.PONG && this.#keepalive?.consumePong(payload)) return;
    const type = opcode === OPCODE.PING ? 'ping' : 'pong';
    const max = this.#options.tap.limits?.maxPendingPings;
    // A pong answers the other peer's pings, whatever the rules then do with it (swallowPongs is not a flood).
    if (type === 'pong') this.#pendingPings[other(side)] = 0;
    else if (max !== undefined && this.#pendingPings[side] >= max) {
      this.violation(inbound, createViolation('WSG_WS_TOO_MANY_PENDING_PINGS', { limit: max }));
      return;
    }
    this.events.message(direction, type, payload);
    const verdict = this.#judge({ direction, type, data: payload });
    // Only a ping passed on can be answered: one a rule swallowed does not count against the peer.
    if (type === 'ping' && verdict.send.some((m) => m.type === 'ping' && m.direction === direction))
      this.#pendingPings[side] += 1;
  }

  /**
   * After a reload the listener's RuleSet is a new one: when it has `live: true` rules, the connection's rules
   * (a RuleConnection, rules/connection.ts) take their new definitions, counters kept, before the next message.
   */
  #followReload(direction: Direction): void {
    const current = this.#options.ruleSource?.();
    if (current === undefined || current === this.#ruleSet) return;
    this.#ruleSet = current;
    if (!current.hasLive) return;
    const rules = this.#rules as ConnectionRules & { reload?: (next: RuleSet) => string[] };
    const names = rules.reload?.(current) ?? [];
    for (const rule of names)
      this.events.hits(direction, [{ rule, action: 'reload', detail: 'new definition (live: true)' }]);
  }

  #judge(message: RuleMessage): Verdict {
    this.#followReload(message.direction);
    const verdict = this.#rules.onMessage(message, performance.now());
    // A message the hold lane takes is reported by the lane, with the id the admin API releases it by: the rule
    // step's own 'hold' hit would be a second event for the same hold.
    const laneReports = verdict.send.some((out) => out.hold !== undefined && this.#canHold(out.direction));
    const hits = laneReports ? verdict.hits.filter((hit) => hit.action !== 'hold') : verdict.hits;
    this.events.hits(message.direction, hits, true);
    // The message's buffer is the relay's own (assembled or inflated for it): sent on once, unchanged, the writer
    // may mask it in place toward the server instead of copying it (events copy what they keep).
    let uses = 0;
    for (const out of verdict.send) if (out.data === message.data) uses += 1;
    this.#owned = uses === 1 ? message.data : undefined;
    this.#send(verdict.send);
    this.#owned = undefined;
    if (verdict.close) this.#closeOrder(verdict.close.code, fitReason(verdict.close.reason), verdict.close.to, 'close');
    this.#armReorder(message.direction);
    return verdict;
  }

  /** Keeps one timer per direction at the rules' next reorder deadline, so a quiet connection's window is released. */
  #armReorder(direction: Direction): void {
    const at = this.#finished ? undefined : this.#rules.deadline?.(direction);
    const current = this.#reorder[direction];
    if (current?.at === at) return;
    if (current !== undefined) clearTimeout(current.timer);
    this.#reorder[direction] = undefined;
    if (at === undefined) return;
    // +1: a timer may fire a fraction of a millisecond before performance.now() reaches the deadline.
    const timer = setTimeout(
      () => {
        this.#reorder[direction] = undefined;
        if (this.#finished) return;
        const verdict = this.#rules.expire?.(direction, performance.now());
        if (verdict !== undefined) {
          this.events.hits(direction, verdict.hits);
          this.#send(verdict.send);
        }
        this.#armReorder(direction);
      },
      Math.max(0, Math.ceil(at - performance.now())) + 1,
    );
    timer.unref();
    this.#reorder[direction] = { timer, at };
  }

  /** Sends messages in order: a held one waits in its direction's queue, and so does what comes after it. */
  #send(messages: readonly OutMessage[]): void {
    for (const out of messages) {
      const lane = this.#holds[out.direction];
      const hold = out.hold ?? this.#runtimeHold(out);
      if (hold !== undefined && this.#canHold(out.direction)) lane.hold(out, hold);
      else if (lane.busy) lane.wait(out);
      else this.#sendNow(out);
    }
  }

  /** A message may wait in its direction's hold lane until the Close toward its receiver has been sent. */
  #canHold(direction: Direction): boolean {
    return !this.#out[toOf(direction)].closeSent;
  }

  /** A hold the admin API added to this connection (POST /api/rules/hold) that takes this data message. */
  #runtimeHold(out: OutMessage): HoldOrder | undefined {
    const r = this.#runtimeHolds[out.direction];
    if (r === undefined || (out.type !== 'text' && out.type !== 'binary')) return undefined;
    if (r.text !== undefined && (out.type !== 'text' || !r.text.test(out.data.toString('utf8')))) return undefined;
    return { rule: 'inspector', timeoutMs: r.timeoutMs, onTimeout: r.onTimeout };
  }

  #sendNow(out: OutMessage): void {
    const writer = this.#out[toOf(out.direction)];
    switch (out.type) {
      case 'text':
      case 'binary':
        // Reported before it is written: the writer may mask an owned buffer in place.
        if (out.injected === true)
          this.events.message(out.direction, out.type, out.data, undefined, undefined, 'wsgate');
        writer.sendData({
          type: out.type,
          data: out.data,
          fragments: out.fragments,
          delayMs: out.delayMs,
          owned: out.data === this.#owned,
        });
        break;
      case 'ping':
      case 'pong':
        // Control payloads are at most 125 bytes (RFC 6455 §5.5); a rule that made one longer is cut, not sent.
        if (out.data.length <= 125) writer.sendControl(out.type, out.data, out.delayMs);
        break;
      case 'close': {
        const parsed = parseClosePayload(out.data);
        if (parsed.ok) this.#closeTo(toOf(out.direction), out.data);
        break;
      }
    }
  }

  #control(to: Side, message: { type: 'text' | 'binary'; data: Buffer }): ControlResult {
    if (this.#finished || this.#gone[to]) return { ok: false, reason: `the ${to} is gone` };
    if (this.#out[to].closeSent) return { ok: false, reason: `a Close was already sent to the ${to}` };
    if (this.#recv[to] !== undefined) return { ok: false, reason: `the ${to} is closing the connection` };
    this.events.message(toward(to), message.type, message.data, undefined, undefined, 'wsgate');
    this.#out[to].sendData({ type: message.type, data: message.data });
    return { ok: true };
  }

  // --- closing ---------------------------------------------------------------------------------------------------

  /** A peer's Close: passed on to the other peer (which answers it), or the answer to a Close sent to this peer. */
  #peerClose(side: Side, close: CloseInfo, payload: Buffer): void {
    if (this.#recv[side] !== undefined) return;
    this.#recv[side] = close;
    this.#in[side].ignoring = true;
    this.#first ??= side;
    this.#armLinger();
    const peer = other(side);
    const direction: Direction = side === 'client' ? 'toUpstream' : 'toClient';
    // What a reorder window still holds goes out before the close, and what is held gets its onTimeout now.
    this.#send(this.#rules.flush(direction));
    this.#holds[direction].settle(`the ${side} sent its Close`);
    if (!this.#out[peer].closeSent && !this.#gone[peer]) {
      this.#followReload(direction);
      const verdict = this.#rules.onMessage({ direction, type: 'close', data: payload });
      this.events.hits(direction, verdict.hits, true);
      const replaced = verdict.send.find((m) => m.type === 'close' && m.direction === direction);
      const body = replaced !== undefined && parseClosePayload(replaced.data).ok ? replaced.data : payload;
      this.#closeTo(peer, body);
    } else if (!this.#out[side].closeSent) {
      // The other peer cannot answer: wsgate answers with the same code (RFC 6455 §5.5.1).
      this.#closeTo(side, payload);
    }
    this.#settle();
  }

  #closeTo(side: Side, body: Uint8Array | { code: number; reason: string }): void {
    if (this.#gone[side]) return;
    this.#out[side].sendClose(body, false);
    this.#armLinger();
    this.#settle();
  }

  /** wsgate closes: a rule's close, the admin API, or shutdown. */
  #closeOrder(code: number, reason: string, to: Side | 'both', how: string): void {
    if (this.#finished) return;
    if (this.#first === undefined) {
      this.#first = 'wsgate';
      this.#wsgateClose = { code, reason };
      this.#record({ by: 'wsgate', how, detail: `close ${code}${reason ? ` ${reason}` : ''} to ${to}` });
    }
    for (const side of ['client', 'server'] as const) {
      if (to !== 'both' && to !== side) continue;
      this.#holds[side === 'client' ? 'toClient' : 'toUpstream'].settle('wsgate is closing the connection');
      this.#closeTo(side, { code, reason });
    }
  }

  /** A peer broke the protocol or a limit: it gets the violation's close code and no more; the other is told. */
  violation(inbound: Inbound, v: Violation): void {
    const limit = LIMIT_KEYS[v.code];
    this.events.violation(inbound.direction, { ...v, limit });
    this.#fail(
      inbound,
      v.closeCode,
      fitReason(v.message),
      limit === undefined ? 'violation' : 'limit',
      `${v.code}${limit === undefined ? '' : ` (${limit})`}: ${v.message}`,
    );
  }

  #inflateFailed(inbound: Inbound, detail: string): void {
    const code = 'WSG_RELAY_INFLATE_FAILED';
    this.events.violation(inbound.direction, { code, rule: 'RFC 7692 §7.2', closeCode: 1007, message: detail });
    this.#fail(inbound, 1007, fitReason(detail), 'violation', `WSG_RELAY_INFLATE_FAILED: ${detail}`);
  }

  #fail(inbound: Inbound, code: number, reason: string, how: string, detail: string): void {
    if (inbound.ignoring) return;
    inbound.ignoring = true;
    inbound.decoder.stop();
    const side = fromOf(inbound.direction);
    if (this.#first === undefined) {
      this.#first = 'wsgate';
      this.#wsgateClose = { code, reason };
    }
    this.#record({ by: 'wsgate', how, detail });
    // The peer that broke the rules is not waited for: its Close, then FIN (RFC 6455 §7.1.7).
    if (!this.#gone[side]) this.#out[side].sendClose({ code, reason }, true);
    this.#gone[side] = true;
    const peer = other(side);
    this.#closeTo(peer, {
      code: side === 'client' ? GOING_AWAY : BAD_GATEWAY,
      reason: side === 'client' ? 'the client broke the protocol' : 'the upstream broke the protocol',
    });
  }

  /** A peer's socket ended or closed: the other peer gets a Close (1001 for a client, 1014 for an upstream). */
  #lost(side: Side): void {
    if (this.#gone[side]) {
      this.#settle();
      return;
    }
    this.#gone[side] = true;
    this.#in[side].ignoring = this.#in[side].ignoring || this.#recv[side] === undefined;
    const peer = other(side);
    // What this peer sent and is held gets its onTimeout before the other peer hears it went away.
    this.#holds[side === 'client' ? 'toUpstream' : 'toClient'].settle(`the ${side} went away`);
    if (!this.#out[peer].closeSent && !this.#gone[peer]) {
      const close = {
        code: side === 'client' ? GOING_AWAY : BAD_GATEWAY,
        reason: side === 'client' ? 'the client went away' : 'the upstream went away',
      };
      if (this.#first === undefined) {
        // The end line names the peer whose socket went (its TCP cause), and the code the other peer was given.
        this.#first = 'tcp';
        this.#wsgateClose = close;
      }
      this.#closeTo(peer, close);
    }
    this.#settle();
  }

  /** Ends each socket whose closing handshake is complete, and both once neither has anything left to say. */
  #settle(): void {
    for (const side of ['client', 'server'] as const) {
      const complete = this.#out[side].closeSent && (this.#recv[side] !== undefined || this.#gone[side]);
      if (complete) this.#out[side].end();
    }
  }

  #armLinger(): void {
    if (this.#linger !== undefined) return;
    this.#linger = setTimeout(() => {
      this.#client.destroy();
      this.#upstream.destroy();
    }, this.#options.halfCloseLinger);
    this.#linger.unref();
  }

  // --- the end ---------------------------------------------------------------------------------------------------

  #end(): void {
    this.#finished = true;
    if (this.#linger) clearTimeout(this.#linger);
    this.#stopInjections();
    for (const r of Object.values(this.#reorder)) if (r !== undefined) clearTimeout(r.timer);
    this.#keepalive?.stop();
    this.#shaper?.stop();
    this.#holds.toUpstream.stop();
    this.#holds.toClient.stop();
    this.#out.client.stop();
    this.#out.server.stop();
    const cause = this.#cause ?? { by: 'wsgate' as const, how: 'error' };
    let by = cause.by;
    let how = cause.how;
    let closeCode = 1006;
    let closeReason: string | undefined;
    const first = this.#first;
    if (first === 'wsgate' && this.#wsgateClose !== undefined) {
      by = 'wsgate';
      how = cause.by === 'wsgate' ? cause.how : 'close';
      closeCode = this.#wsgateClose.code ?? 1005;
      closeReason = this.#wsgateClose.reason || undefined;
    } else if (first === 'tcp' && this.#wsgateClose !== undefined) {
      closeCode = this.#wsgateClose.code ?? 1006;
      closeReason = this.#wsgateClose.reason || undefined;
    } else if (first === 'client' || first === 'server') {
      const seen = this.#recv[first]!;
      by = who(first);
      how = 'close';
      closeCode = seen.code ?? 1005;
      closeReason = seen.reason || undefined;
    }
    const counters = (side: Side) => ({ ...this.#in[side].counters });
    this.events.end({
      durationMs: Math.round(performance.now() - this.#started),
      endedBy: by,
      how,
      termination: terminationCode(by, how),
      closeCode,
      ...(closeReason === undefined ? {} : { closeReason }),
      clean: this.#recv.client !== undefined && this.#recv.server !== undefined,
      ...(cause.detail === undefined ? {} : { detail: cause.detail }),
      toUpstream: counters('client'),
      toClient: counters('server'),
      ...(this.#keepalive ? { keepalive: { ...this.#keepalive.counts } } : {}),
    });
  }
}
