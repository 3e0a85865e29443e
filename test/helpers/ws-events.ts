// Traffic events as the tap emits them, for tests that feed the store, the metrics or the feed directly: a
// connection's open and end with plausible defaults, any field overridden.
import type { WsEndEvent, WsOpenEvent } from '../../src/events.ts';

export const EVENT_TIME = '2026-12-02T00:00:00.000Z';

export function openEvent(conn: string, fields: Partial<WsOpenEvent> = {}): WsOpenEvent {
  return {
    type: 'open',
    conn,
    route: 'r',
    time: EVENT_TIME,
    upstream: 'ws://u',
    path: '/p',
    client: '127.0.0.1',
    protocol: undefined,
    extensions: undefined,
    tap: 'payload',
    handshakeMs: 1,
    request: [],
    forwarded: [],
    response: [],
    ...fields,
  };
}

/** A clean close by the client (CC, 1000) after one message to the upstream. */
export function endEvent(conn: string, fields: Partial<WsEndEvent> = {}): WsEndEvent {
  return {
    type: 'end',
    conn,
    route: 'r',
    time: EVENT_TIME,
    upstream: 'ws://u',
    protocol: undefined,
    extensions: undefined,
    durationMs: 5,
    endedBy: 'client',
    how: 'close',
    termination: 'CC',
    closeCode: 1000,
    clean: true,
    toUpstream: { frames: 1, messages: 1, bytes: 10 },
    toClient: { frames: 0, messages: 0, bytes: 0 },
    ...fields,
  };
}
