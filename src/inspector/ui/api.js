// The inspector's side of the admin API: the token (taken once from `/?token=`, or asked for after a 401, and kept
// in sessionStorage — never a cookie, so the browser never sends it on its own), JSON calls with the token header,
// mutating calls with Content-Type: application/json, downloads (HAR) through fetch so they carry the header too,
// and the live feed. EventSource cannot send headers, so the feed is Server-Sent Events read through fetch and a
// stream reader; it reconnects after a drop and resumes from the last sequence number it saw.

const TOKEN_KEY = 'wsgate.token';

/** Moves `?token=` from the address bar into sessionStorage, so it is not left in history or screenshots. */
export function adoptTokenFromUrl() {
  const url = new URL(location.href);
  const token = url.searchParams.get('token');
  if (token === null) return;
  sessionStorage.setItem(TOKEN_KEY, token);
  url.searchParams.delete('token');
  history.replaceState(null, '', url.pathname + url.search + url.hash);
}

export function setToken(token) {
  if (token) sessionStorage.setItem(TOKEN_KEY, token);
  else sessionStorage.removeItem(TOKEN_KEY);
}

export function hasToken() {
  return sessionStorage.getItem(TOKEN_KEY) !== null;
}

function headers(extra = {}) {
  const token = sessionStorage.getItem(TOKEN_KEY);
  return token ? { ...extra, authorization: `Bearer ${token}` } : extra;
}

/** An API error with the server's code, message and HTTP status. */
export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

const listeners = new Set();
/** Called with an ApiError of status 401 whenever a call needs a (better) token. */
export function onUnauthorized(listener) {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

async function check(res) {
  if (res.ok) return res;
  let code = `HTTP_${res.status}`;
  let message = res.statusText;
  try {
    const body = await res.json();
    code = body.error?.code ?? code;
    message = body.error?.message ?? message;
  } catch {}
  const err = new ApiError(res.status, code, message);
  if (res.status === 401) for (const l of listeners) l(err);
  throw err;
}

export async function getJson(path) {
  const res = await fetch(path, { headers: headers({ accept: 'application/json' }) });
  return (await check(res)).json();
}

export function postJson(path, body) {
  return sendJson('POST', path, body);
}

export function putJson(path, body) {
  return sendJson('PUT', path, body);
}

async function sendJson(method, path, body) {
  const res = await fetch(path, {
    method,
    headers: headers({ 'content-type': 'application/json', accept: 'application/json' }),
    body: JSON.stringify(body),
  });
  await check(res);
  const text = await res.text();
  return text ? JSON.parse(text) : {};
}

/** Fetches a file with the token header and hands it to the browser as a download. */
export async function download(path, filename) {
  const res = await check(await fetch(path, { headers: headers() }));
  const blob = await res.blob();
  const url = URL.createObjectURL(blob);
  const a = document.createElement('a');
  a.href = url;
  a.download = filename;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

/**
 * Opens the live feed and calls onEvent(event) for each JSON event, in order. onState(state) hears 'open',
 * 'retrying' and 'closed'. Returns close(). After a drop it waits (up to 5 s, growing) and resumes with
 * ?since=<last seq>, so nothing in the server's resume window is lost.
 */
export function openFeed(onEvent, onState = () => {}, since) {
  let last = since;
  let stopped = false;
  let controller;
  let delay = 250;
  async function run() {
    while (!stopped) {
      controller = new AbortController();
      try {
        const query = last === undefined ? '' : `?since=${last}`;
        const res = await check(
          await fetch(`/api/events${query}`, {
            headers: headers({ accept: 'text/event-stream' }),
            signal: controller.signal,
            cache: 'no-store',
          }),
        );
        onState('open');
        delay = 250;
        await readEvents(res.body, (id, name, data) => {
          let event;
          try {
            event = JSON.parse(data);
          } catch {
            return;
          }
          if (event && typeof event === 'object' && event.type === undefined && name) event.type = name;
          const seq = Number(id ?? event?.seq);
          if (Number.isFinite(seq)) last = seq;
          onEvent(event);
        });
      } catch (err) {
        if (stopped) break;
        if (err instanceof ApiError && err.status === 401) {
          onState('closed');
          // Wait for a token, then try again.
          await new Promise((r) => setTimeout(r, 1000));
          continue;
        }
      }
      if (stopped) break;
      onState('retrying');
      await new Promise((r) => setTimeout(r, delay));
      delay = Math.min(delay * 2, 5000);
    }
    onState('closed');
  }
  void run();
  return () => {
    stopped = true;
    controller?.abort();
  };
}

/** A minimal text/event-stream parser (WHATWG HTML §9.2): id, event and data fields; comments ignored. */
async function readEvents(body, dispatch) {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = '';
  let id;
  let name = '';
  let data = [];
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value;
    // Split once per chunk (not once per line: re-slicing a large buffer per line is quadratic). A trailing '\r'
    // may be the first half of '\r\n', so it waits for the next chunk.
    const cut = buffer.endsWith('\r') ? buffer.length - 1 : buffer.length;
    const lines = buffer.slice(0, cut).split(/\r\n|\r|\n/);
    buffer = lines.pop() + buffer.slice(cut);
    for (const line of lines) {
      if (line === '') {
        if (data.length) dispatch(id, name, data.join('\n'));
        name = '';
        data = [];
      } else if (!line.startsWith(':')) {
        const colon = line.indexOf(':');
        const field = colon === -1 ? line : line.slice(0, colon);
        let val = colon === -1 ? '' : line.slice(colon + 1);
        if (val.startsWith(' ')) val = val.slice(1);
        if (field === 'data') data.push(val);
        else if (field === 'event') name = val;
        else if (field === 'id') id = val;
      }
    }
  }
}
