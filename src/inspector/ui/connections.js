// The connections view: a live table of every WebSocket the store knows (newest first) with a filter box. Rows are
// focusable; Enter or a click selects one, the arrow keys move between rows.
import { closeMeaning, connectionSearchText, formatBytes, formatDuration, placeOf } from './format.js';
import { html, useMemo } from './html.js';

function duration(c, now) {
  if (c.durationMs !== undefined && c.durationMs !== null) return c.durationMs;
  const opened = Date.parse(c.openedAt);
  return Number.isNaN(opened) ? undefined : Math.max(0, now - opened);
}

/** A handshake that did not open is listed too: the inspector is where one looks for why. */
const STATE_LABEL = { open: '● open', closed: '○ closed', failed: '✕ failed' };

export function ConnectionsPane({ model, filter, setFilter, now }) {
  const list = useMemo(() => {
    const all = [...model.connections.values()].sort((a, b) => (a.openedAt < b.openedAt ? 1 : -1));
    const f = filter.trim().toLowerCase();
    return f ? all.filter((c) => connectionSearchText(c).includes(f)) : all;
  }, [model.version, filter]);

  const onKey = (e, c, i) => {
    if (e.key === 'Enter' || e.key === ' ') {
      e.preventDefault();
      void model.select(c.id);
    } else if (e.key === 'ArrowDown' || e.key === 'ArrowUp') {
      e.preventDefault();
      const rows = e.currentTarget.parentElement.children;
      rows[Math.max(0, Math.min(rows.length - 1, i + (e.key === 'ArrowDown' ? 1 : -1)))]?.focus();
    }
  };

  const s = model.stats;
  return html`<section class="pane" aria-label="Connections">
    <div class="toolbar">
      <label class="sr-only" for="conn-filter">Filter connections</label>
      <input
        id="conn-filter"
        type="search"
        placeholder="Filter connections (id, route, host, client, upstream, state…)"
        value=${filter}
        onInput=${(e) => setFilter(e.currentTarget.value)}
      />
      <span class="muted" id="conn-count">${list.length} of ${model.connections.size}</span>
    </div>
    <div class="table-wrap">
      <table id="connections">
        <thead>
          <tr>
            <th>State</th>
            <th>Listener/route or host</th>
            <th class="col-wide">Client</th>
            <th class="col-wide">Upstream</th>
            <th class="col-wide">Subprotocol</th>
            <th class="col-wide">Extensions</th>
            <th>Duration</th>
            <th title="messages to the upstream / to the client">Msgs ↑/↓</th>
            <th title="bytes to the upstream / to the client">Bytes ↑/↓</th>
            <th title="termination code and close code">End</th>
          </tr>
        </thead>
        <tbody>
          ${list.map(
            (c, i) => html`<tr
              key=${c.id}
              class="conn"
              tabindex="0"
              data-id=${c.id}
              aria-selected=${c.id === model.selected ? 'true' : 'false'}
              onClick=${() => model.select(c.id)}
              onKeyDown=${(e) => onKey(e, c, i)}
            >
              <td class=${`state-${c.state}`}>${STATE_LABEL[c.state] ?? c.state}</td>
              <td title=${c.id}>${placeOf(c)}</td>
              <td class="col-wide mono" title=${c.peer ? `through ${c.peer} (a trusted proxy or a PROXY protocol balancer)` : ''}>
                ${c.client ?? ''}${c.peer ? html`<span class="muted"> via ${c.peer}</span>` : null}
              </td>
              <td class="col-wide mono" title=${c.server ?? ''}>${c.upstream ?? ''}${c.server ? ` → ${c.server}` : ''}</td>
              <td class="col-wide">${c.subprotocol ?? ''}</td>
              <td class="col-wide" title=${c.extensions ?? ''}>${shortExt(c.extensions)}</td>
              <td class="num">${formatDuration(duration(c, now))}</td>
              <td class="num">${c.toUpstream?.messages ?? 0} / ${c.toClient?.messages ?? 0}</td>
              <td class="num">${formatBytes(c.toUpstream?.bytes ?? 0)} / ${formatBytes(c.toClient?.bytes ?? 0)}</td>
              <td title=${c.failure ? c.failure.reason : c.end ? `${c.end.endedBy ?? ''} ${c.end.how ?? ''}: ${closeMeaning(c.end.closeCode)}` : ''}>
                ${c.failure ? `${c.failure.status}${c.failure.code ? ` ${c.failure.code}` : ''}` : c.end ? `${c.end.termination ?? ''} ${c.end.closeCode ?? ''}` : ''}
              </td>
            </tr>`,
          )}
        </tbody>
      </table>
      ${model.connections.size === 0 ? html`<p class="empty">No WebSocket connections yet. Open <a href="/demo">the test page</a> or point a client at wsgate.</p>` : null}
    </div>
    <div class="status" id="store-status">
      ${
        s.evictedConnections || s.evictedMessages || s.truncatedMessages
          ? html`<span class="warn"
            >Store evicted ${s.evictedConnections ?? 0} connections and ${s.evictedMessages ?? 0} messages;
            ${s.truncatedMessages ?? 0} previews truncated.</span
          >`
          : html`<span>Nothing evicted.</span>`
      }
      ${s.maxBytes ? html` <span class="muted">Memory ${formatBytes(s.bytes)} of ${formatBytes(s.maxBytes)}.</span>` : null}
    </div>
  </section>`;
}

function shortExt(ext) {
  if (!ext) return '';
  return ext.split(';')[0];
}
