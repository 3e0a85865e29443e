// GET /api/connections/:id/messages/:seq: one message with its whole payload — text as text, anything else base64 —
// from memory, or from the session file once memory evicted it. Lists and the live feed carry previews only (a
// page of a thousand 1 MiB messages would be a gigabyte); this is where the whole message is read.
import { messageData } from '../traffic/records.ts';
import type { StoredMessage } from '../traffic/store.ts';
import { badRequest, notFound, sendJson } from './admin-http.ts';
import type { AdminHandler } from './admin-server.ts';
import type { AdminContext } from './api.ts';

export function messageHandler(ctx: AdminContext): AdminHandler {
  return {
    method: 'GET',
    path: '/api/connections/:id/messages/:seq',
    async handle(_req, res, { params }) {
      const id = params['id']!;
      const raw = params['seq']!;
      const seq = Number(raw);
      if (!/^\d+$/.test(raw) || !Number.isSafeInteger(seq)) throw badRequest(`seq must be a whole number, not ${raw}`);
      let message: StoredMessage | undefined = ctx.store.message(id, seq);
      let source: 'memory' | 'disk' = 'memory';
      if (message === undefined && ctx.disk !== undefined) {
        message = await ctx.disk.one(id, seq);
        source = 'disk';
      }
      if (message === undefined) {
        const known = ctx.store.connection(id) !== undefined;
        throw notFound(known ? `no message ${seq} on connection ${id} (never, or evicted)` : `no connection ${id}`);
      }
      const { data, encoding, truncated } = messageData(message);
      sendJson(res, 200, { message: { ...message, data, encoding, dataTruncated: truncated }, source });
    },
  };
}
