// The /demo page: the classic browser WebSocket test client, in plain DOM. It connects wherever its URL points
// (by default the built-in echo through wsgate), shows readyState, protocol, extensions and bufferedAmount, sends
// text and binary (as an ArrayBuffer or a Blob), and lists every event with its readyState at that moment, so a
// user (and the browser test) can see the transitions CONNECTING → OPEN → CLOSING → CLOSED. After `open` it asks
// the admin API whether wsgate saw the connection, which checks a browser's path through the proxy in one click.
import { bytesToHex, closeMeaning, formatTime, hexToBytes } from './format.js';

const STATES = ['CONNECTING', 'OPEN', 'CLOSING', 'CLOSED'];
const $ = (id) => document.getElementById(id);

let ws;
let timer;
let counter = 0;

function stateText(s) {
  return s === undefined ? '–' : `${s} ${STATES[s]}`;
}

function log(kind, text, extra = {}) {
  const li = document.createElement('li');
  li.dataset.kind = kind;
  li.dataset.n = String(++counter);
  for (const [k, v] of Object.entries(extra)) li.dataset[k] = String(v);
  li.dataset.readyState = ws ? String(ws.readyState) : '';
  const time = document.createElement('time');
  time.textContent = formatTime(Date.now());
  const k = document.createElement('b');
  k.textContent = kind;
  const body = document.createElement('span');
  body.textContent = text;
  const rs = document.createElement('small');
  rs.textContent = ws ? stateText(ws.readyState) : '';
  li.append(time, ' ', k, ' ', body, ' ', rs);
  $('events').append(li);
  li.scrollIntoView({ block: 'nearest' });
  return body;
}

function refresh() {
  $('ready-state').textContent = ws ? stateText(ws.readyState) : '–';
  $('protocol').textContent = ws ? JSON.stringify(ws.protocol) : '–';
  $('extensions').textContent = ws ? JSON.stringify(ws.extensions) : '–';
  $('buffered').textContent = ws ? String(ws.bufferedAmount) : '–';
  const open = ws?.readyState === WebSocket.OPEN;
  for (const id of ['send-text', 'send-buffer', 'send-blob']) $(id).disabled = !open;
  $('disconnect').disabled = !ws || ws.readyState >= WebSocket.CLOSING;
  $('connect').disabled = !!ws && ws.readyState < WebSocket.CLOSED;
}

function describe(data) {
  if (typeof data === 'string') return { type: 'text', text: data };
  if (data instanceof ArrayBuffer) {
    const bytes = new Uint8Array(data);
    return { type: 'arraybuffer', text: `ArrayBuffer ${bytes.length} B ${bytesToHex(bytes)} "${utf8(bytes)}"` };
  }
  return { type: 'blob', text: `Blob ${data.size} B` };
}

function utf8(bytes) {
  return new TextDecoder('utf-8', { fatal: false }).decode(bytes.subarray(0, 256));
}

function connect(event) {
  event.preventDefault();
  const url = $('url').value.trim();
  const protocols = $('protocols')
    .value.split(',')
    .map((p) => p.trim())
    .filter(Boolean);
  try {
    ws = protocols.length ? new WebSocket(url, protocols) : new WebSocket(url);
  } catch (err) {
    log('error', `constructor threw: ${err.message}`);
    return;
  }
  ws.binaryType = $('binary-type').value;
  log('connect', `${url}${protocols.length ? ` protocols ${protocols.join(', ')}` : ''}`);
  $('seen').textContent = '–';
  const opened = ws;
  ws.onopen = () => {
    log('open', `protocol ${JSON.stringify(opened.protocol)} extensions ${JSON.stringify(opened.extensions)}`);
    void checkSeen(opened, url);
    refresh();
  };
  ws.onmessage = (m) => {
    const d = describe(m.data);
    const body = log('message', d.text, { type: d.type });
    if (d.type === 'blob') {
      m.data.arrayBuffer().then((buf) => {
        const bytes = new Uint8Array(buf);
        body.textContent = `Blob ${bytes.length} B ${bytesToHex(bytes)} "${utf8(bytes)}"`;
      });
    }
    refresh();
  };
  ws.onerror = () => {
    log('error', 'the connection failed or broke (browsers give no detail; see the close event)');
    refresh();
  };
  ws.onclose = (c) => {
    log('close', `code ${c.code} (${closeMeaning(c.code)}) reason ${JSON.stringify(c.reason)} wasClean ${c.wasClean}`, {
      code: c.code,
    });
    clearInterval(timer);
    refresh();
  };
  clearInterval(timer);
  // bufferedAmount changes without an event; poll it while the socket lives.
  timer = setInterval(refresh, 200);
  refresh();
}

function payload() {
  const text = $('message').value;
  return $('hex').checked ? hexToBytes(text) : new TextEncoder().encode(text);
}

function send(kind) {
  if (!ws) return;
  try {
    if (kind === 'text') {
      ws.send($('message').value);
      log('send', $('message').value, { type: 'text' });
    } else if (kind === 'arraybuffer') {
      const bytes = payload();
      ws.send(bytes.buffer);
      log('send', `ArrayBuffer ${bytes.length} B ${bytesToHex(bytes)}`, { type: 'arraybuffer' });
    } else {
      const bytes = payload();
      ws.send(new Blob([bytes]));
      log('send', `Blob ${bytes.length} B ${bytesToHex(bytes)}`, { type: 'blob' });
    }
  } catch (err) {
    log('error', `send failed: ${err.message}`);
  }
  refresh();
}

function close() {
  if (!ws) return;
  const code = Number($('close-code').value);
  const reason = $('close-reason').value;
  try {
    ws.close(code, reason);
    log('closing', `code ${code} reason ${JSON.stringify(reason)}`);
  } catch (err) {
    log('error', `close failed: ${err.message}`);
  }
  refresh();
}

/**
 * Asks the admin API (same origin as this page) for open connections whose path matches the URL's. A hit means
 * the browser's connection went through wsgate (directly, or through its forward proxy); none means it did not,
 * or the admin API is not reachable from here.
 */
async function checkSeen(opened, url) {
  const out = $('seen');
  out.textContent = 'checking…';
  let path;
  try {
    path = new URL(url).pathname;
  } catch {
    return;
  }
  for (let attempt = 0; attempt < 10 && opened.readyState === WebSocket.OPEN; attempt++) {
    try {
      const res = await fetch(`/api/connections?state=open`, { headers: { accept: 'application/json' } });
      if (!res.ok) {
        out.textContent = `unknown (admin API answered ${res.status})`;
        return;
      }
      const body = await res.json();
      const list = Array.isArray(body) ? body : (body.connections ?? []);
      // The newest connection with this path: a reverse route may rewrite the host, but the path is kept.
      const hit = list.findLast((c) => c.path === path);
      if (hit) {
        out.textContent = `yes: ${hit.id} on ${hit.listener ?? ''} ${hit.route ?? ''} → ${hit.upstream ?? ''}`;
        out.dataset.seen = 'yes';
        return;
      }
    } catch {
      out.textContent = 'unknown (no admin API here)';
      return;
    }
    await new Promise((r) => setTimeout(r, 150));
  }
  out.textContent = 'no: wsgate did not see this connection (is the browser using the proxy?)';
  out.dataset.seen = 'no';
}

async function init() {
  let demoUrl;
  try {
    const res = await fetch('/ui/defaults.json');
    demoUrl = (await res.json()).demoUrl;
  } catch {}
  const fromQuery = new URLSearchParams(location.search).get('url');
  $('url').value = fromQuery ?? demoUrl ?? `ws://${location.hostname || '127.0.0.1'}:8080/echo`;
  $('connect-form').addEventListener('submit', connect);
  $('disconnect').addEventListener('click', close);
  $('send-text').addEventListener('click', () => send('text'));
  $('send-buffer').addEventListener('click', () => send('arraybuffer'));
  $('send-blob').addEventListener('click', () => send('blob'));
  $('clear').addEventListener('click', () => {
    $('events').replaceChildren();
  });
  $('binary-type').addEventListener('change', () => {
    if (ws) ws.binaryType = $('binary-type').value;
  });
  refresh();
  document.body.dataset.ready = 'true';
}

void init();
