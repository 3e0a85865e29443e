// The messages view of one connection: a toolbar (text filter, direction and type toggles, follow), a virtualised
// list that renders only the rows in view (fixed row height, so 100,000 messages cost what 40 do), and the detail
// of the selected message. Filtering is incremental: while the filter stays the same, new messages are tested as
// they arrive instead of the whole list again.
import { Act } from './act.js';
import { Detail } from './detail.js';
import { formatBytes, formatTime } from './format.js';
import { HandshakePanel } from './handshake.js';
import { HeldPanel } from './held.js';
import { html, useEffect, useMemo, useRef, useState } from './html.js';

const ROW = 24;
const OVERSCAN = 8;
const KINDS = [
  ['text', 'text'],
  ['binary', 'binary'],
  ['control', 'ping/pong'],
  ['close', 'close'],
];

function kindGroup(kind) {
  return kind === 'ping' || kind === 'pong' ? 'control' : kind;
}

function preview(m) {
  if (m.kind === 'close') return `${m.code ?? ''} ${m.reason ?? ''}`;
  if (m.preview === undefined) return m.note ?? '';
  return m.preview.length > 300 ? m.preview.slice(0, 300) : m.preview;
}

/** Incremental filtering: the cache keeps the filter's key and how far it got; a new key starts over. */
function useFiltered(messages, version, key, test) {
  const cache = useRef({ key: undefined, source: undefined, upTo: 0, list: [] });
  return useMemo(() => {
    const c = cache.current;
    if (c.key !== key || c.source !== messages || messages.length < c.upTo) {
      c.key = key;
      c.source = messages;
      c.upTo = 0;
      c.list = [];
    }
    for (let i = c.upTo; i < messages.length; i++) if (test(messages[i])) c.list.push(messages[i]);
    c.upTo = messages.length;
    // A new array identity per change, so the list below re-renders; the elements are shared.
    return c.list.slice(0);
  }, [messages, version, key]);
}

export function MessagesPane({ model }) {
  const [text, setText] = useState('');
  const [dirs, setDirs] = useState({ toUpstream: true, toClient: true });
  const [kinds, setKinds] = useState({ text: true, binary: true, control: true, close: true });
  const [follow, setFollow] = useState(true);
  const [selectedSeq, setSelectedSeq] = useState(undefined);
  const [showHandshake, setShowHandshake] = useState(false);

  useEffect(() => setSelectedSeq(undefined), [model.selected]);

  const needle = text.trim().toLowerCase();
  const key = JSON.stringify([needle, dirs, kinds]);
  const filtered = useFiltered(
    model.messages,
    model.version,
    key,
    (m) =>
      dirs[m.dir] !== false &&
      kinds[kindGroup(m.kind)] !== false &&
      (needle === '' || (m.preview ?? '').toLowerCase().includes(needle) || String(m.code ?? '') === needle),
  );

  if (model.selected === undefined) {
    return html`<section class="pane messages" aria-label="Messages">
      <p class="empty">Select a connection to see its messages.</p>
    </section>`;
  }
  const conn = model.detail ?? model.connections.get(model.selected) ?? { id: model.selected };
  const selected = selectedSeq === undefined ? undefined : model.messages.find((m) => m.seq === selectedSeq);
  const toggle = (set, obj, k) => set({ ...obj, [k]: !obj[k] });

  const head = html`<div class="toolbar">
      <strong class="mono" id="sel-conn">${conn.id}</strong>
      <span class="muted">${conn.route === undefined ? (conn.listener ?? '') : `${conn.route} → ${conn.upstream ?? ''}`}</span>
      <span class=${`state-${conn.state}`}>${conn.state ?? ''}</span>
      ${
        conn.tap && conn.tap !== 'payload' && conn.state !== 'failed'
          ? html`<span class="warn" title="the route's tap level: previews only with tap payload">tap ${conn.tap}</span>`
          : null
      }
      ${conn.evictedMessages ? html`<span class="warn">${conn.evictedMessages} evicted</span>` : null}
      <button
        id="handshake-toggle"
        class="toggle small"
        aria-pressed=${String(showHandshake)}
        onClick=${() => setShowHandshake(!showHandshake)}
        title="The opening handshake: the request as received and as forwarded, and the upstream's answer"
      >
        Handshake
      </button>
    </div>
    ${(showHandshake || conn.state === 'failed') && model.detail ? html`<${HandshakePanel} conn=${conn} />` : null}`;
  // A handshake that did not open has its handshake and nothing else: no messages, nothing to hold or send.
  if (conn.state === 'failed') {
    return html`<section class="pane messages" aria-label="Messages">
      ${head}
      <p class="empty" id="no-messages">The handshake did not open: no messages.</p>
    </section>`;
  }

  return html`<section class="pane messages" aria-label="Messages">
    ${head}
    <div class="toolbar">
      <label class="sr-only" for="msg-filter">Filter messages</label>
      <input
        id="msg-filter"
        type="search"
        placeholder="Filter messages by text"
        value=${text}
        onInput=${(e) => setText(e.currentTarget.value)}
      />
      <button
        class="toggle"
        aria-pressed=${String(dirs.toUpstream)}
        title="messages to the upstream"
        onClick=${() => toggle(setDirs, dirs, 'toUpstream')}
      >
        ↑ sent
      </button>
      <button
        class="toggle"
        aria-pressed=${String(dirs.toClient)}
        title="messages to the client"
        onClick=${() => toggle(setDirs, dirs, 'toClient')}
      >
        ↓ received
      </button>
      ${KINDS.map(
        ([k, label]) =>
          html`<button class="toggle" aria-pressed=${String(kinds[k])} onClick=${() => toggle(setKinds, kinds, k)}>
            ${label}
          </button>`,
      )}
      <label><input type="checkbox" checked=${follow} onChange=${(e) => setFollow(e.currentTarget.checked)} /> follow</label>
      <span class="muted" id="msg-count"
        >${filtered.length} of ${model.messages.length}${model.loadingMessages ? ' (loading…)' : ''}</span
      >
    </div>
    <${HeldPanel} model=${model} conn=${conn} />
    <${VirtualList}
      items=${filtered}
      selectedSeq=${selectedSeq}
      onSelect=${(m) => {
        setSelectedSeq(m.seq);
        setFollow(false);
      }}
      follow=${follow}
    />
    ${selected ? html`<${Detail} message=${selected} conn=${conn} />` : null}
    <${Act} conn=${conn} message=${selected} />
  </section>`;
}

function VirtualList({ items, selectedSeq, onSelect, follow }) {
  const ref = useRef(null);
  const [scrollTop, setScrollTop] = useState(0);
  const [height, setHeight] = useState(400);
  const frame = useRef(0);

  useEffect(() => {
    const el = ref.current;
    const ro = new ResizeObserver(() => setHeight(el.clientHeight));
    ro.observe(el);
    return () => ro.disconnect();
  }, []);

  useEffect(() => {
    if (follow && ref.current) {
      ref.current.scrollTop = ref.current.scrollHeight;
      setScrollTop(ref.current.scrollTop);
    }
  }, [items.length, follow]);

  const onScroll = () => {
    if (frame.current) return;
    frame.current = requestAnimationFrame(() => {
      frame.current = 0;
      if (ref.current) setScrollTop(ref.current.scrollTop);
    });
  };

  const index = selectedSeq === undefined ? -1 : items.findIndex((m) => m.seq === selectedSeq);
  const onKey = (e) => {
    const moves = { ArrowDown: 1, ArrowUp: -1, PageDown: 20, PageUp: -20, Home: -Infinity, End: Infinity };
    const d = moves[e.key];
    if (d === undefined || items.length === 0) return;
    e.preventDefault();
    const next = Math.max(0, Math.min(items.length - 1, (index === -1 ? 0 : index) + d));
    onSelect(items[next]);
    const el = ref.current;
    const top = next * ROW;
    if (top < el.scrollTop) el.scrollTop = top;
    else if (top + ROW > el.scrollTop + el.clientHeight - ROW) el.scrollTop = top - el.clientHeight + 2 * ROW;
  };

  const start = Math.max(0, Math.floor(scrollTop / ROW) - OVERSCAN);
  const end = Math.min(items.length, Math.ceil((scrollTop + height) / ROW) + OVERSCAN);
  const rows = [];
  for (let i = start; i < end; i++) {
    const m = items[i];
    rows.push(html`<div
      key=${m.seq}
      class="vrow"
      role="option"
      data-seq=${m.seq}
      data-dir=${m.dir}
      data-kind=${m.kind}
      aria-selected=${m.seq === selectedSeq ? 'true' : 'false'}
      style=${{ top: `${i * ROW}px` }}
      onClick=${() => onSelect(m)}
    >
      <span class=${`dir-${m.dir}`} title=${m.dir === 'toUpstream' ? 'to the upstream' : 'to the client'}
        >${m.dir === 'toUpstream' ? '↑' : '↓'}</span
      >
      <span>${formatTime(m.time)}</span>
      <span>${formatBytes(m.decodedSize ?? m.size)}</span>
      <span>${m.kind}${m.origin === 'wsgate' ? html` <span class="origin-wsgate" title="sent by wsgate itself">⚙</span>` : null}</span>
      <span>${preview(m)}</span>
    </div>`);
  }
  return html`<div
    class="vlist"
    id="messages"
    ref=${ref}
    tabindex="0"
    role="listbox"
    aria-label="Messages"
    onScroll=${onScroll}
    onKeyDown=${onKey}
  >
    <div class="vhead" style=${{ position: 'sticky', top: '0', zIndex: '1' }}>
      <span></span><span>Time</span><span>Size</span><span>Type</span><span>Data</span>
    </div>
    <div class="vspacer" style=${{ height: `${items.length * ROW}px` }}>${rows}</div>
    ${items.length === 0 ? html`<p class="empty">No messages${follow ? ' yet' : ''}.</p>` : null}
  </div>`;
}
