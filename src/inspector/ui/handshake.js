// The opening handshake of the selected connection, where a WebSocket that never opens or misbehaves is usually
// decided: who connected (and through which proxy), the request as the client sent it, as wsgate forwarded it, and
// the upstream's answer. Headers wsgate did not pass on are struck through on the client's side; headers it added
// (X-Forwarded-*, Forwarded) are marked on the upstream's. Secrets are as the traffic log has them (redacted
// unless log.showSecrets).
import { closeMeaning, formatTime } from './format.js';
import { html } from './html.js';

/** "name: value" in lower-case name form, to compare what went in with what went out. */
function pairKey([name, value]) {
  return `${name.toLowerCase()}\n${value}`;
}

function Headers({ id, title, pairs, mark, note }) {
  return html`<div class="hs-side">
    <h3>${title}</h3>
    ${
      pairs === undefined || pairs.length === 0
        ? html`<p class="muted">none recorded</p>`
        : html`<table class="hs-headers" id=${id}>
            <tbody>
              ${pairs.map(
                (pair) => html`<tr class=${mark(pair) ?? ''} title=${mark(pair) ? note : ''}>
                  <td class="mono">${pair[0]}</td>
                  <td class="mono">${pair[1]}</td>
                </tr>`,
              )}
            </tbody>
          </table>`
    }
  </div>`;
}

/** The handshake's facts in one line (htm drops the spaces at template line breaks, so it is built as a string). */
function facts(conn) {
  const failed = conn.state === 'failed';
  return [
    conn.path ?? '',
    `${failed ? 'at' : 'opened'} ${conn.openedAt ? formatTime(conn.openedAt) : '?'}`,
    // Where a slow handshake's time went: reaching the upstream (DNS, TLS, a proxy's CONNECT) or its answer.
    `handshake ${conn.handshakeMs ?? '?'} ms${
      conn.dialMs === undefined
        ? ''
        : ` (upstream connected after ${conn.dialMs} ms${conn.spare ? ': a spare connection, opened ahead' : ''}${
            conn.response?.length ? `, answered ${Math.max(0, (conn.handshakeMs ?? 0) - conn.dialMs)} ms later` : ''
          })`
    }`,
    // Nothing was negotiated for a handshake that did not open; one refused before routing has no tap level.
    failed ? undefined : `subprotocol ${conn.subprotocol ?? 'none'}`,
    failed ? undefined : `extensions ${conn.extensions ?? 'none'}`,
    conn.tap === undefined && failed ? undefined : `tap ${conn.tap ?? '?'}`,
  ]
    .filter((fact) => fact !== undefined)
    .join(' · ');
}

function ending(end) {
  return `ended: ${[end.termination, end.closeCode, end.endedBy, end.how].filter((v) => v !== undefined).join(' ')}`;
}

export function HandshakePanel({ conn }) {
  const request = conn.request ?? [];
  const forwarded = conn.forwarded ?? [];
  const sent = new Set(forwarded.map(pairKey));
  const received = new Set(request.map(pairKey));
  const end = conn.end;
  return html`<section class="panel handshake" id="handshake" aria-label="Opening handshake">
    <p>
      <strong>${conn.client ?? '?'}</strong>${conn.peer ? html`<span class="muted"> via ${conn.peer}</span>` : null}${' → '}
      ${`wsgate (${[conn.listener, conn.route].filter(Boolean).join(' ')})`}${' → '}${
        conn.upstream === undefined
          ? html`<span class="muted" id="hs-no-upstream">no upstream was asked</span>`
          : html`<strong>${conn.upstream}</strong>`
      }
      ${conn.server ? html`<span class="muted"> server ${conn.server}</span>` : null}
    </p>
    ${
      conn.failure
        ? html`<p class="bad" id="hs-failure">
            Did not open: ${conn.failure.status}${conn.failure.code ? ` ${conn.failure.code}` : ''} — ${conn.failure.reason}
          </p>`
        : null
    }
    <p class="muted">${facts(conn)}${end ? html`${' · '}<span title=${closeMeaning(end.closeCode)}>${ending(end)}</span>` : null}</p>
    <div class="hs-grid">
      <${Headers}
        id="hs-request"
        title="From the client"
        pairs=${request}
        mark=${(p) => (sent.has(pairKey(p)) ? undefined : 'hs-dropped')}
        note="not passed on to the upstream (hop-by-hop, or replaced)"
      />
      <${Headers}
        id="hs-forwarded"
        title="To the upstream"
        pairs=${forwarded}
        mark=${(p) => (received.has(pairKey(p)) ? undefined : 'hs-added')}
        note="set by wsgate"
      />
      <${Headers}
        id="hs-response"
        title="The upstream's answer"
        pairs=${conn.response}
        mark=${() => undefined}
        note=""
      />
    </div>
  </section>`;
}
