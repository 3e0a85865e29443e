// Acting on the selected connection: send a text or binary (hex) message to the client or the server, close it with
// a chosen code and reason, and download its HAR. Each call's outcome (or the API's refusal, e.g. 409 when the
// connection cannot be relayed) is shown beside the buttons.
import { download, postJson } from './api.js';
import { bytesToBase64, closeMeaning, hexToBytes } from './format.js';
import { html, useState } from './html.js';

export function Act({ conn, message }) {
  const [text, setText] = useState('');
  const [to, setTo] = useState('server');
  const [code, setCode] = useState('1000');
  const [reason, setReason] = useState('');
  const [side, setSide] = useState('both');
  const [result, setResult] = useState({ ok: true, text: '' });
  const open = conn.state === 'open';
  const id = encodeURIComponent(conn.id);

  const run = async (what, fn) => {
    try {
      await fn();
      setResult({ ok: true, text: `${what}: done` });
    } catch (err) {
      setResult({ ok: false, text: `${what}: ${err.code ? `${err.code} ` : ''}${err.message}` });
    }
  };
  const send = (binary) =>
    run(binary ? 'send binary' : 'send text', () =>
      postJson(`/api/connections/${id}/send`, binary ? { to, base64: bytesToBase64(hexToBytes(text)) } : { to, text }),
    );
  const close = () =>
    run(`close ${code}`, () => postJson(`/api/connections/${id}/close`, { code: Number(code), reason, to: side }));

  return html`<div class="act" aria-label="Act on this connection">
    <label class="sr-only" for="send-text">Message to send</label>
    <textarea
      id="send-text"
      rows="2"
      placeholder=${message ? 'Message to send (Ctrl+Enter sends text)' : 'Message to send'}
      value=${text}
      onInput=${(e) => setText(e.currentTarget.value)}
      onKeyDown=${(e) => {
        if (e.key === 'Enter' && (e.ctrlKey || e.metaKey) && open) void send(false);
      }}
    ></textarea>
    <label for="send-to">to</label>
    <select id="send-to" value=${to} onChange=${(e) => setTo(e.currentTarget.value)}>
      <option value="server">the server</option>
      <option value="client">the client</option>
    </select>
    <button id="send-text-btn" disabled=${!open} onClick=${() => send(false)}>Send text</button>
    <button id="send-binary-btn" disabled=${!open} onClick=${() => send(true)} title="the box holds hex digits">
      Send binary (hex)
    </button>
    ${message ? html`<button class="small" onClick=${() => setText(message.preview ?? '')}>Use selected</button>` : null}
    <span class="muted">|</span>
    <label for="close-code">close code</label>
    <input
      id="close-code"
      class="short"
      type="number"
      min="1000"
      max="4999"
      value=${code}
      title=${closeMeaning(Number(code))}
      onInput=${(e) => setCode(e.currentTarget.value)}
    />
    <label class="sr-only" for="close-reason">close reason</label>
    <input
      id="close-reason"
      class="short"
      placeholder="reason"
      maxlength="123"
      value=${reason}
      onInput=${(e) => setReason(e.currentTarget.value)}
    />
    <label class="sr-only" for="close-side">close which side</label>
    <select id="close-side" value=${side} onChange=${(e) => setSide(e.currentTarget.value)}>
      <option value="both">both sides</option>
      <option value="client">the client</option>
      <option value="server">the server</option>
    </select>
    <button id="close-btn" disabled=${!open} onClick=${close}>Close</button>
    <span class="muted">|</span>
    <button id="har-one" onClick=${() => run('HAR', () => download(`/api/connections/${id}/har`, `wsgate-${conn.id}.har`))}>
      Download HAR
    </button>
    <span id="act-result" class=${result.ok ? 'muted' : 'bad'} role="status">${result.text}</span>
  </div>`;
}
