// The "Upstreams" panel: every upstream with several servers (GET /api/upstreams), each server's state, what active
// checks say, whether it is skipped after a failure, its open WebSockets and failed connections, and a button that
// drains it (no new connections, the open ones stay) or makes it ready again (PUT …/servers/N); a draining server's
// open WebSockets can then be closed with 1012 (POST …/close), so their clients reconnect to the others. Reloaded
// every two seconds while it is open, so a drained server's open count is seen falling to 0 before a deploy.
import { getJson, postJson, putJson } from './api.js';
import { html, useEffect, useState } from './html.js';

const REFRESH_MS = 2000;

/** A drain deadline (closeAfter, set through the API) as "in 25 s"; refreshed with the panel. */
function untilText(iso) {
  const seconds = Math.max(0, Math.ceil((Date.parse(iso) - Date.now()) / 1000));
  return seconds === 0 ? 'now' : `in ${seconds} s`;
}

function ServerRow({ upstream, s, onChange, onClose }) {
  const [busy, setBusy] = useState(false);
  const next = s.state === 'drain' ? 'ready' : 'drain';
  const change = async () => {
    setBusy(true);
    try {
      await onChange(upstream, s.index, next);
    } finally {
      setBusy(false);
    }
  };
  const flags = [s.backup ? 'backup' : '', s.weight !== 1 ? `weight ${s.weight}` : ''].filter(Boolean).join(', ');
  return html`<tr class="server" data-server=${s.url} data-state=${s.state}>
    <td><code>${s.url}</code>${flags ? html` <span class="muted">${flags}</span>` : null}</td>
    <td class=${s.state === 'drain' ? 'warn' : 'state-open'}>
      ${s.state === 'drain' ? 'draining' : 'ready'}
      ${s.closeAt ? html` <span class="muted server-deadline">closes open ${untilText(s.closeAt)}</span>` : null}
    </td>
    <td class=${s.health === 'down' ? 'bad' : s.health === 'up' ? 'state-open' : 'muted'}>${s.health}</td>
    <td class=${s.skipped ? 'bad' : 'muted'}>
      ${s.skipped ? (s.skippedForMs > 0 ? `skipped ${Math.ceil(s.skippedForMs / 1000)} s` : 'skipped') : '–'}
    </td>
    <td class="num server-open">${s.open}</td>
    <td class="num">${s.failures}</td>
    <td>
      <button class=${`small server-${next}`} disabled=${busy} onClick=${change}>
        ${next === 'drain' ? 'Drain' : 'Make ready'}
      </button>
      ${
        s.state === 'drain' && s.open > 0
          ? html` <button
            class="small server-close"
            title="Close its open WebSockets with 1012 (Service Restart): clients reconnect to the other servers"
            onClick=${() => onClose(upstream, s.index)}
          >
            Close ${s.open} open
          </button>`
          : null
      }
    </td>
  </tr>`;
}

export function UpstreamsPanel({ onClose }) {
  const [upstreams, setUpstreams] = useState(undefined);
  const [error, setError] = useState('');
  const load = () =>
    getJson('/api/upstreams').then(
      (body) => {
        setUpstreams(body.upstreams);
        setError('');
      },
      (err) => setError(err.message),
    );
  useEffect(() => {
    void load();
    const timer = setInterval(load, REFRESH_MS);
    return () => clearInterval(timer);
  }, []);
  const change = async (name, index, state) => {
    try {
      await putJson(`/api/upstreams/${encodeURIComponent(name)}/servers/${index}`, { state });
      await load();
    } catch (err) {
      setError(`${state}: ${err.message}`);
    }
  };
  const close = async (name, index) => {
    try {
      await postJson(`/api/upstreams/${encodeURIComponent(name)}/servers/${index}/close`, {});
      await load();
    } catch (err) {
      setError(`close: ${err.message}`);
    }
  };
  return html`<section class="panel upstreams" id="upstreams" aria-label="Upstreams">
    <h2>
      Upstreams with several servers
      <button class="small" onClick=${onClose} title="Close this panel">Close</button>
    </h2>
    ${error ? html`<p class="bad">${error}</p>` : null}
    ${
      upstreams?.length === 0
        ? html`<p class="empty">No route uses an upstream with several servers (<code>upstreams[].servers</code>).</p>`
        : null
    }
    ${(upstreams ?? []).map(
      (u) => html`<div class="upstream" data-upstream=${u.name}>
        <h3>
          ${u.name} <span class="muted">${u.balance}, ${u.ready} of ${u.servers.length} ready</span>
          ${u.ready === 0 ? html`<span class="bad"> every server drained: new connections get 503</span>` : null}
        </h3>
        <div class="table-wrap">
          <table>
            <thead>
              <tr><th>server</th><th>state</th><th>health</th><th>skipped</th><th class="num">open</th><th class="num">failed</th><th></th></tr>
            </thead>
            <tbody>
              ${u.servers.map((s) => html`<${ServerRow} key=${s.url} upstream=${u.name} s=${s} onChange=${change} onClose=${close} />`)}
            </tbody>
          </table>
        </div>
      </div>`,
    )}
  </section>`;
}
