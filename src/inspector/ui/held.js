// The "Held" panel of the selected connection (the hold action, docs/inspector.md): its held messages, oldest
// first, each with the countdown to its timeout and what happens then, an editor (text, or hex for binary) and
// Forward / Drop; and two switches that add a hold on this connection at run time (POST /api/rules/hold). The
// list is reloaded when the feed reports a hold step on this connection (model.heldVersion) and when it changes.
import { getJson, postJson } from './api.js';
import { base64ToBytes, bytesToBase64, formatBytes, hexToBytes } from './format.js';
import { html, useEffect, useState } from './html.js';

function toHex(bytes) {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join(' ');
}

/** What the editor starts with: the text, or the bytes as hex. */
function original(h) {
  if (h.text !== undefined) return h.text;
  if (h.base64 !== undefined) return toHex(base64ToBytes(h.base64));
  return h.preview ?? '';
}

function HeldItem({ h, skew, now, onDone }) {
  const [value, setValue] = useState(original(h));
  const [error, setError] = useState('');
  // `now` only makes the item render every second; the time is read here, so a fresh item is not a tick behind.
  void now;
  const left = Math.max(0, Math.ceil((Date.parse(h.deadline) - (Date.now() + skew)) / 1000));
  const binary = h.type !== 'text';
  const id = encodeURIComponent(h.id);
  const act = async (what, body) => {
    try {
      await postJson(`/api/held/${id}/${what}`, body);
      setError('');
      onDone();
    } catch (err) {
      setError(`${what}: ${err.message}`);
    }
  };
  const forward = () => {
    if (value === original(h) || !h.dataAvailable) return act('forward', {});
    return act('forward', binary ? { base64: bytesToBase64(hexToBytes(value)) } : { text: value });
  };
  return html`<li class="held-item" data-held=${h.id}>
    <div class="held-head">
      <span class=${`dir-${h.direction}`}>${h.direction === 'toUpstream' ? '↑ to the server' : '↓ to the client'}</span>
      <span>${h.type}, ${formatBytes(h.size)}</span>
      <span class="muted">rule ${h.rule}</span>
      <span class="held-countdown warn" role="timer"
        >${h.onTimeout === 'forward' ? 'forwards unchanged' : 'drops'} in ${left} s</span
      >
    </div>
    <label class="sr-only" for=${`held-edit-${h.id}`}>Held message ${binary ? '(hex)' : ''}</label>
    <textarea
      id=${`held-edit-${h.id}`}
      class="held-editor"
      rows="3"
      readonly=${!h.dataAvailable}
      value=${value}
      onInput=${(e) => setValue(e.currentTarget.value)}
    ></textarea>
    <div class="held-buttons">
      <button class="primary held-forward" onClick=${forward}>Forward${value === original(h) ? '' : ' edited'}</button>
      <button class="held-drop" onClick=${() => act('drop', {})}>Drop</button>
      ${value === original(h) ? null : html`<button class="small" onClick=${() => setValue(original(h))}>Undo edits</button>`}
      ${error ? html`<span class="bad" role="status">${error}</span>` : null}
    </div>
  </li>`;
}

export function HeldPanel({ model, conn }) {
  const [held, setHeld] = useState([]);
  const [skew, setSkew] = useState(0);
  const [now, setNow] = useState(Date.now());
  const [holds, setHolds] = useState({ toServer: false, toClient: false });
  const [error, setError] = useState('');
  const open = conn.state === 'open';

  const load = () =>
    getJson(`/api/held?conn=${encodeURIComponent(conn.id)}`).then(
      (answer) => {
        setHeld(answer.held);
        setSkew(Date.parse(answer.now) - Date.now());
      },
      (err) => setError(err.message),
    );
  useEffect(() => {
    setHolds({ toServer: false, toClient: false });
    setError('');
  }, [conn.id]);
  useEffect(() => {
    void load();
  }, [conn.id, model.heldVersion, conn.state]);
  useEffect(() => {
    if (held.length === 0) return undefined;
    const timer = setInterval(() => setNow(Date.now()), 1000);
    return () => clearInterval(timer);
  }, [held.length]);

  // The box shows the click at once and goes back if the call fails: set only after the answer, any re-render while
  // the call was out (the held list, the 1 s clock) put the old state back under the user's click.
  const toggle = async (direction, on) => {
    setHolds((now) => ({ ...now, [direction]: on }));
    try {
      await postJson('/api/rules/hold', { conn: conn.id, direction, on });
      setError('');
    } catch (err) {
      setHolds((now) => ({ ...now, [direction]: !on }));
      setError(err.message);
    }
  };

  return html`<div class="held" aria-label="Held messages">
    <div class="toolbar">
      <strong>Held${held.length > 0 ? ` (${held.length})` : ''}</strong>
      <label title="Hold every message from the client until you forward or drop it">
        <input
          type="checkbox"
          id="hold-to-server"
          disabled=${!open}
          checked=${holds.toServer}
          onChange=${(e) => toggle('toServer', e.currentTarget.checked)}
        />
        hold ↑ to the server</label
      >
      <label title="Hold every message from the server until you forward or drop it">
        <input
          type="checkbox"
          id="hold-to-client"
          disabled=${!open}
          checked=${holds.toClient}
          onChange=${(e) => toggle('toClient', e.currentTarget.checked)}
        />
        hold ↓ to the client</label
      >
      ${error ? html`<span class="bad" id="held-error" role="status">${error}</span>` : null}
    </div>
    ${
      held.length === 0
        ? null
        : html`<ol class="held-list" id="held-list">
            ${held.map((h) => html`<${HeldItem} key=${h.id} h=${h} skew=${skew} now=${now} onDone=${load} />`)}
          </ol>`
    }
  </div>`;
}
