// The inspector's static files, mounted on the admin listener: `/` (the inspector), `/demo` (the browser WebSocket
// test page), `/ui/*` (their scripts, styles and images, from src/inspector/ui/) and `/vendor/*` (preact,
// preact/hooks and htm as ESM straight from node_modules, so the UI has no build step). Everything served is known
// when the handler is created: a request path is looked up in that table and never joined onto a directory, so no
// encoding of `..` can reach another file. Every answer carries a strict Content-Security-Policy (no inline script
// or style: the UI's pages load only their own files) and an ETag with `Cache-Control: no-cache`, so a browser
// revalidates after an upgrade instead of running stale code against a newer API.
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Config } from '../config/schema.ts';
import { formatHostPort } from '../net/host-port.ts';
import type { AdminHandler } from './admin-server.ts';

/** Answers the request and returns true when the path is one of the static files' paths; false leaves it alone. */
export type StaticHandler = (req: IncomingMessage, res: ServerResponse) => boolean;

export type StaticOptions = {
  /** Where the UI's files are; default: the `ui` folder beside this module. */
  uiDir?: string;
  /** What /demo connects to by default (served as /ui/defaults.json), e.g. the built-in echo through wsgate. */
  demoUrl?: string;
};

type Asset = { body: Buffer; type: string; etag: string };

// connect-src allows any ws:/wss: URL because /demo connects wherever its user points it; fetches stay same-origin.
export const CONTENT_SECURITY_POLICY = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data: blob:",
  "connect-src 'self' ws: wss:",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.png': 'image/png',
  '.svg': 'image/svg+xml',
};

/** The vendor files: name under /vendor/ → module specifier resolved from this package's node_modules. */
const VENDOR: Record<string, string> = {
  'preact.mjs': 'preact',
  'hooks.mjs': 'preact/hooks',
  'htm.mjs': 'htm',
};

const PAGES: Record<string, string> = { '/': 'index.html', '/demo': 'demo.html' };

function asset(body: Buffer, type: string): Asset {
  return { body, type, etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 22)}"` };
}

/**
 * The vendor modules import each other by bare specifier ("preact"), which a browser resolves only through an
 * import map — an inline script the CSP forbids. Rewriting the specifiers to relative URLs keeps the CSP strict.
 */
function vendorModule(specifier: string): Buffer {
  const source = readFileSync(fileURLToPath(import.meta.resolve(specifier)), 'utf8');
  return Buffer.from(source.replace(/from\s*(["'])preact\1/g, 'from"./preact.mjs"'));
}

/** The UI folder's files; none when it is missing (a build that left it out): the API still works without it. */
function uiEntries(uiDir: string) {
  try {
    return readdirSync(uiDir, { withFileTypes: true });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
}

function loadAssets(uiDir: string, demoUrl: string | undefined): Map<string, Asset> {
  const assets = new Map<string, Asset>();
  for (const entry of uiEntries(uiDir)) {
    const type = TYPES[extname(entry.name)];
    if (!entry.isFile() || type === undefined) continue;
    const body = readFileSync(join(uiDir, entry.name));
    const page = Object.entries(PAGES).find(([, file]) => file === entry.name);
    assets.set(page ? page[0] : `/ui/${entry.name}`, asset(body, type));
  }
  for (const [name, specifier] of Object.entries(VENDOR)) {
    assets.set(`/vendor/${name}`, asset(vendorModule(specifier), TYPES['.mjs']!));
  }
  assets.set('/ui/defaults.json', asset(Buffer.from(JSON.stringify({ demoUrl: demoUrl ?? null })), TYPES['.json']!));
  if (!assets.has('/')) {
    const missing = `wsgate: the inspector's files are missing (${uiDir}); the admin API under /api/ works.\n`;
    assets.set('/', asset(Buffer.from(missing), 'text/plain; charset=utf-8'));
  }
  return assets;
}

function setCommonHeaders(res: ServerResponse): void {
  res.setHeader('content-security-policy', CONTENT_SECURITY_POLICY);
  res.setHeader('x-content-type-options', 'nosniff');
  res.setHeader('referrer-policy', 'no-referrer');
  res.setHeader('cross-origin-opener-policy', 'same-origin');
  res.setHeader('cross-origin-resource-policy', 'same-origin');
}

/** Builds the handler; reads every file now, so nothing touches the disk per request. */
export function createStaticHandler(options: StaticOptions = {}): StaticHandler {
  const uiDir = options.uiDir ?? fileURLToPath(new URL('./ui/', import.meta.url));
  const assets = loadAssets(uiDir, options.demoUrl);
  return (req, res) => {
    const url = req.url ?? '/';
    const query = url.indexOf('?');
    const path = query === -1 ? url : url.slice(0, query);
    const found = assets.get(path);
    if (found === undefined) return false;
    setCommonHeaders(res);
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain; charset=utf-8' });
      res.end('method not allowed\n');
      return true;
    }
    res.setHeader('cache-control', 'no-cache');
    res.setHeader('etag', found.etag);
    if (req.headers['if-none-match'] === found.etag) {
      res.writeHead(304);
      res.end();
      return true;
    }
    res.writeHead(200, { 'content-type': found.type, 'content-length': found.body.length });
    res.end(req.method === 'HEAD' ? undefined : found.body);
    return true;
  };
}

/**
 * The same files as admin endpoints (public: the pages hold no data; the API they call asks for the token).
 * HEAD arrives as GET in the admin server's table; the handler still leaves the body out for it.
 */
export function staticAdminHandlers(options: StaticOptions = {}): AdminHandler[] {
  const serve = createStaticHandler(options);
  const handle: AdminHandler['handle'] = (req, res) => {
    if (!serve(req, res)) {
      res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store' });
      res.end('not found\n');
    }
  };
  return ['/', '/demo', '/ui/:name', '/vendor/:name'].map((path) => ({ method: 'GET', path, public: true, handle }));
}

/**
 * Where /demo connects by default: the built-in echo server through the first reverse route that sends an exact
 * path to it (the default config's /echo on :8080), else the echo server itself; undefined without an echo server.
 */
export function demoUrlFor(config: Config): string | undefined {
  const echo = config.echo;
  if (echo === undefined) return undefined;
  const echoHost = formatHostPort(echo.bind.host, echo.bind.port);
  const shown = (host: string) => (host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host);
  for (const listener of config.listeners) {
    for (const route of listener.routes) {
      let target: URL;
      try {
        target = new URL(route.upstream.url);
      } catch {
        continue;
      }
      if (target.host !== echoHost && target.host !== `localhost:${echo.bind.port}`) continue;
      const path = route.match.find((m) => typeof m.path === 'string')?.path;
      if (path === undefined) continue;
      const scheme = 'tls' in listener && listener.tls ? 'wss' : 'ws';
      return `${scheme}://${formatHostPort(shown(listener.bind.host), listener.bind.port)}${path}`;
    }
  }
  return `ws://${formatHostPort(shown(echo.bind.host), echo.bind.port)}/echo`;
}
