// WebSocket client steps the integration tests share: open, one echo round trip, and a refused handshake's answer.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import type { TestContext } from 'node:test';
import WebSocket from 'ws';

export function openWs(url: string, options: WebSocket.ClientOptions = {}, protocols?: string[]): Promise<WebSocket> {
  const ws = new WebSocket(url, protocols, { maxPayload: 64 * 1024 * 1024, ...options });
  return new Promise((resolve, reject) => {
    ws.once('open', () => resolve(ws));
    ws.once('error', reject);
  });
}

export function roundTrip(ws: WebSocket, data: Buffer | string): Promise<{ data: Buffer; isBinary: boolean }> {
  return new Promise((resolve) => {
    ws.once('message', (d: Buffer, isBinary: boolean) => resolve({ data: d, isBinary }));
    ws.send(data);
  });
}

/** Opens a WebSocket to an echo upstream that stays open for the test; the function sends and waits for the echo. */
export async function echoSender(t: TestContext, url: string): Promise<(text: string) => Promise<void>> {
  const ws = await openWs(url);
  t.after(() => ws.terminate());
  return async (text) => {
    const echoed = await roundTrip(ws, text);
    assert.equal(echoed.data.toString(), text);
  };
}

export type Refusal = { status: number; headers: Record<string, string | string[] | undefined>; body: string };

/** The status, headers and body a client gets when its handshake is refused; rejects if it succeeds. */
export function refusedHandshake(url: string, headers: Record<string, string> = {}): Promise<Refusal> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { headers });
    ws.on('unexpected-response', (_req, res) => {
      let body = '';
      res.on('data', (c: Buffer) => {
        body += c.toString();
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    ws.on('open', () => reject(new Error('handshake unexpectedly succeeded')));
    ws.on('error', () => {});
  });
}

export const sha256Hex = (b: Buffer) => createHash('sha256').update(b).digest('hex');
