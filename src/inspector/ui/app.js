// The inspector: a header (feed state, pause/resume, HAR of everything, the test page), the connections view and
// the messages view of the selected connection. State lives in model.js; this file wires the feed, the periodic
// refresh of the store's counts and the token prompt to it.
import { adoptTokenFromUrl, download, hasToken, onUnauthorized, openFeed, setToken } from './api.js';
import { ConnectionsPane } from './connections.js';
import { html, render, useEffect, useState } from './html.js';
import { MessagesPane } from './messages.js';
import { Model } from './model.js';
import { UpstreamsPanel } from './upstreams.js';

const REFRESH_MS = 5000;

function TokenPrompt({ onDone }) {
  const [value, setValue] = useState('');
  return html`<form
    class="banner"
    id="token-form"
    onSubmit=${(e) => {
      e.preventDefault();
      setToken(value.trim());
      onDone();
    }}
  >
    <label for="token">This admin listener needs a token (kept in this tab's session storage only): </label>
    <input id="token" type="password" autocomplete="off" value=${value} onInput=${(e) => setValue(e.currentTarget.value)} />
    <button class="primary" type="submit">Use token</button>
  </form>`;
}

function App({ model }) {
  const [, setVersion] = useState(0);
  const [filter, setFilter] = useState('');
  const [now, setNow] = useState(Date.now());
  const [needToken, setNeedToken] = useState(false);
  const [message, setMessage] = useState('');
  const [showUpstreams, setShowUpstreams] = useState(false);

  useEffect(() => model.subscribe(setVersion), []);
  useEffect(() => onUnauthorized(() => setNeedToken(true)), []);
  useEffect(() => {
    const close = openFeed(
      (event) => model.onFeed(event),
      (state) => {
        model.feedState = state;
        model.changed();
      },
    );
    const load = () =>
      model.loadConnections().then(
        () => setMessage(''),
        (err) => setMessage(err.message),
      );
    void load();
    const timer = setInterval(() => {
      setNow(Date.now());
    }, 1000);
    const refresh = setInterval(load, REFRESH_MS);
    return () => {
      close();
      clearInterval(timer);
      clearInterval(refresh);
    };
  }, []);

  const tokenDone = () => {
    setNeedToken(false);
    void model.loadConnections().then(
      () => setMessage(''),
      (err) => setMessage(err.message),
    );
    if (model.selected) void model.select(model.selected);
  };

  return html`<div class="app">
    <header class="bar">
      <h1><a href="/">wsgate</a> inspector</h1>
      <span id="feed-state" class=${model.feedState === 'open' ? 'state-open' : 'warn'} data-state=${model.feedState}>
        ${model.feedState === 'open' ? '● live' : model.feedState === 'retrying' ? '○ reconnecting…' : `○ ${model.feedState}`}
      </span>
      <button
        id="pause"
        aria-pressed=${String(model.paused)}
        class="toggle"
        onClick=${() => model.setPaused(!model.paused)}
        title="Stop applying live updates (they are queued, not lost)"
      >
        ${model.paused ? `Resume (${model.queued} queued)` : 'Pause'}
      </button>
      ${message ? html`<span class="bad">${message}</span>` : null}
      <nav>
        <button id="har-all" onClick=${() => download('/api/har', 'wsgate.har').catch((e) => setMessage(e.message))}>
          HAR (all)
        </button>
        <button
          id="upstreams-toggle"
          class="toggle"
          aria-pressed=${String(showUpstreams)}
          onClick=${() => setShowUpstreams(!showUpstreams)}
          title="Servers of upstreams with several: state, open connections, drain"
        >
          Upstreams
        </button>
        ${hasToken() ? html`<button class="small" onClick=${() => setNeedToken(true)}>Token…</button>` : null}
        <a href="/demo">Test page</a>
      </nav>
    </header>
    ${needToken ? html`<${TokenPrompt} onDone=${tokenDone} />` : null}
    ${showUpstreams ? html`<${UpstreamsPanel} onClose=${() => setShowUpstreams(false)} />` : null}
    <div class="split">
      <${ConnectionsPane} model=${model} filter=${filter} setFilter=${setFilter} now=${now} />
      <${MessagesPane} model=${model} />
    </div>
  </div>`;
}

adoptTokenFromUrl();
const model = new Model();
const root = document.getElementById('app');
// The placeholder is not preact's: clear it, or render would keep it beside the app.
root.replaceChildren();
render(html`<${App} model=${model} />`, root);
// For the browser tests and for poking at the state from DevTools.
window.wsgateInspector = model;
document.body.dataset.ready = 'true';
