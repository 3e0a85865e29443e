// The detail of one message: what it is (direction, time, size, type, compression, fragments), its content — JSON
// pretty-printed as a collapsible tree, text as text, binary as a hex dump, a close frame's code with its meaning —
// the rule hits and marks on it, and a copy button.
import { getJson } from './api.js';
import {
  base64ToBytes,
  bytesToHex,
  closeMeaning,
  formatBytes,
  formatTime,
  hexDump,
  hexToBytes,
  tryJson,
} from './format.js';
import { html, useState } from './html.js';

/** The whole message (GET …/messages/:seq) as a record the view reads like one with a full preview. */
function wholeOf(m, answer) {
  const w = answer.message;
  const preview = w.encoding === 'base64' ? bytesToHex(base64ToBytes(w.data), Number.POSITIVE_INFINITY) : w.data;
  return { ...m, preview, truncated: w.dataTruncated, whole: true };
}

const MAX_NODES = 5000;

const countLabel = (n, noun) => `${n} ${noun}${n === 1 ? '' : 's'}`;

function JsonNode({ name, value, depth, budget }) {
  budget.left--;
  const label = name === undefined ? null : html`<span class="k">${JSON.stringify(name)}</span>: `;
  if (value === null || typeof value !== 'object') {
    const cls = typeof value === 'string' ? 's' : 'n';
    return html`<li>${label}<span class=${cls}>${JSON.stringify(value)}</span></li>`;
  }
  const entries = Array.isArray(value) ? value.map((v, i) => [i, v]) : Object.entries(value);
  const open = Array.isArray(value) ? '[' : '{';
  const close = Array.isArray(value) ? ']' : '}';
  if (budget.left <= 0) return html`<li>${label}${open}…${close}</li>`;
  return html`<li>
    <details open=${depth < 3}>
      <summary>${label}${open}<span class="muted"> ${countLabel(entries.length, Array.isArray(value) ? 'item' : 'key')} </span>${close}</summary>
      <ul>
        ${entries.map(
          ([k, v]) =>
            html`<${JsonNode} name=${Array.isArray(value) ? undefined : k} value=${v} depth=${depth + 1} budget=${budget} />`,
        )}
      </ul>
    </details>
  </li>`;
}

function bytesOf(m) {
  try {
    return hexToBytes(m.preview ?? '');
  } catch {
    return new TextEncoder().encode(m.preview ?? '');
  }
}

/** The text a copy puts on the clipboard: the text, or the hex of a binary message. */
export function copyText(m) {
  if (m.kind === 'close') return `${m.code ?? ''} ${m.reason ?? ''}`.trim();
  return m.preview ?? '';
}

async function copy(text) {
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch {
    const area = document.createElement('textarea');
    area.value = text;
    document.body.append(area);
    area.select();
    const ok = document.execCommand('copy');
    area.remove();
    return ok;
  }
}

export function Detail({ message: shownMessage, conn }) {
  const [raw, setRaw] = useState(false);
  const [copied, setCopied] = useState('');
  // The whole message once loaded, for the message it was loaded for (a new selection shows its preview again).
  const [loaded, setLoaded] = useState(undefined);
  const [loading, setLoading] = useState('');
  const m = loaded !== undefined && loaded.seq === shownMessage.seq ? loaded : shownMessage;
  const canLoad = m.whole !== true && m.truncated === true && (m.dataBytes ?? 0) > 0;
  const load = async () => {
    setLoading('loading…');
    try {
      const path = `/api/connections/${encodeURIComponent(m.conn)}/messages/${m.seq}`;
      setLoaded(wholeOf(shownMessage, await getJson(path)));
      setLoading('');
    } catch (err) {
      setLoading(`cannot load: ${err.message}`);
    }
  };
  const json = m.kind === 'text' ? tryJson(m.preview) : undefined;
  // A hit that acted on a message names its seq (messageSeq). Hits without one (a reload, a hold step) are placed by
  // time: the relay reports them right after the message, so one in the same direction within 5 ms after it is its.
  const at = Date.parse(m.time);
  const hits = (conn.rules ?? []).filter((r) => {
    if (r.messageSeq !== undefined) return r.messageSeq === m.seq;
    const d = Date.parse(r.time) - at;
    return r.dir === m.dir && d >= 0 && d <= 5;
  });
  let body;
  if (m.kind === 'close') {
    body = html`<p id="detail-close">
      Close <strong>${m.code ?? 'without a code'}</strong> ${m.code ? html`<span class="muted">(${closeMeaning(m.code)})</span>` : null}
      ${m.reason ? html`reason <code>${JSON.stringify(m.reason)}</code>` : null}
    </p>`;
  } else if (m.preview === undefined) {
    body = html`<p class="muted">No payload stored: ${m.note ?? `the tap level is ${conn.tap ?? 'below payload'}`}.</p>`;
  } else if (m.kind === 'binary') {
    body = html`<pre id="detail-hex">${hexDump(bytesOf(m))}</pre>`;
  } else if (json !== undefined && !raw) {
    body = html`<ul class="json" id="detail-json"><${JsonNode} value=${json} depth=${0} budget=${{ left: MAX_NODES }} /></ul>`;
  } else {
    body = html`<pre id="detail-text">${m.preview}</pre>`;
  }
  return html`<div class="detail" aria-label="Message detail" id="detail">
    <div>
      <span class=${`tag dir-${m.dir}`}>${m.dir === 'toUpstream' ? '↑ to the upstream' : '↓ to the client'}</span>
      <span class="tag">${m.kind}</span>
      <span class="tag">${formatTime(m.time)}</span>
      <span class="tag">${formatBytes(m.size)}${m.compressed ? ` compressed → ${formatBytes(m.decodedSize)}` : ''}</span>
      ${m.fragments > 1 ? html`<span class="tag">${m.fragments} frames</span>` : null}
      ${m.origin === 'wsgate' ? html`<span class="tag origin-wsgate" title="wsgate sent this message itself (admin send, inject, keepalive)">sent by wsgate</span>` : null}
      ${m.truncated ? html`<span class="tag warn">${m.whole ? 'cut at inspector.store.maxMessageBytes' : 'preview truncated'}</span>` : null}
      ${canLoad ? html`<button class="small" id="load-whole" onClick=${load}>Whole message (${formatBytes(m.dataBytes)})</button>` : null}
      ${loading ? html`<span class="muted">${loading}</span>` : null}
      ${m.rttMs !== undefined ? html`<span class="tag">rtt ${m.rttMs} ms</span>` : null}
      ${hits.map(
        (h) =>
          html`<span class="tag warn" title=${h.detail}>${h.mark ? `mark ${h.mark}` : `${h.action} (${h.rule})`}</span>`,
      )}
      ${json !== undefined ? html`<button class="small" onClick=${() => setRaw(!raw)}>${raw ? 'Tree' : 'Raw'}</button>` : null}
      <button
        class="small"
        id="copy"
        onClick=${async () => setCopied((await copy(copyText(m))) ? 'copied' : 'copy failed')}
      >
        Copy
      </button>
      <span class="muted">${copied}</span>
    </div>
    ${hits.length ? html`<ul class="muted">${hits.map((h) => html`<li>${h.rule}: ${h.detail}</li>`)}</ul>` : null}
    ${body}
  </div>`;
}
