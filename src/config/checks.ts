// Checks that span keys, run after the shape has parsed what it could: unique listener, route, upstream and proxy
// names; route upstreams and via: references that name something defined (with a "did you mean"); a listener is
// reverse or forward, not both; an exposed forward proxy is never open; an exposed admin API has a token; no two
// listeners (the admin API and the echo server among them) on one address. Pure.

import type { z } from 'zod';
import { bindsOverlap } from '../net/bind-overlap.ts';
import { formatHostPort } from '../net/host-port.ts';
import { isLoopbackHost } from '../net/ip.ts';
import { checkForwardOnlyFaults, checkRuleRefs } from './checks-rules.ts';
import { isRecord, listenerNameOf, MISSING_KEY } from './fields.ts';
import { didYouMean } from './suggest.ts';

function listOf(v: unknown): unknown[] {
  return Array.isArray(v) ? v : [];
}

function looksLikeAddress(text: string): boolean {
  return /^[\w.-]+:\d+(\/.*)?$/.test(text) || text.startsWith('localhost');
}

/**
 * An upstream is one url or several servers; servers differ in host and port only, so that a request, its path and
 * its TLS (on or off) mean the same whichever serves it.
 */
function checkServers(u: Record<string, unknown>, issue: (path: (string | number)[], message: string) => void): void {
  const hasUrl = u['url'] !== undefined;
  const servers = u['servers'];
  if (hasUrl && servers !== undefined) {
    issue(['servers'], 'give url or servers, not both');
    return;
  }
  if (!hasUrl && servers === undefined) {
    issue([], `${MISSING_KEY}: an upstream needs url (one server) or servers (several)`);
    return;
  }
  // Entries as written (a URL, or { url, weight, backup }), or as the shape parsed them: read either.
  const entries = listOf(servers).map((s) => (isRecord(s) ? s : { url: s }));
  const list = entries.map((e) => e['url']);
  const parsed = list.map((s) => (typeof s === 'string' && URL.canParse(s) ? new URL(s) : undefined));
  if (entries.length > 0 && entries.every((e) => e['backup'] === true)) {
    issue(['servers'], 'every server is a backup: at least one must take connections while all are up');
  }
  const first = parsed[0];
  if (first === undefined) return;
  const secure = (url: URL) => url.protocol === 'wss:' || url.protocol === 'https:';
  parsed.forEach((url, j) => {
    if (url === undefined || j === 0) return;
    if (secure(url) !== secure(first)) {
      issue(['servers', j], `${list[j]} and ${list[0]}: all servers use TLS (wss://, https://) or none does`);
    } else if (url.pathname + url.search !== first.pathname + first.search) {
      issue(['servers', j], `${list[j]} has another path than ${list[0]}: servers differ in host and port only`);
    } else if (url.host === first.host || parsed.slice(1, j).some((other) => other?.host === url.host)) {
      issue(['servers', j], `${url.host} is listed twice`);
    }
  });
}

/**
 * Checks across keys: unique names and upstream references. It also runs when other keys are invalid (so all
 * issues are reported at once), so it reads the partly parsed value defensively.
 */
export function crossCheck(value: unknown, ctx: z.RefinementCtx): void {
  if (!isRecord(value)) return;
  const issue = (path: (string | number)[], message: string) => ctx.addIssue({ code: 'custom', path, message });

  const upstreams = new Map<string, number>();
  listOf(value['upstreams']).forEach((u, i) => {
    if (isRecord(u)) checkServers(u, (path, message) => issue(['upstreams', i, ...path], message));
    const url = isRecord(u) ? (typeof u['url'] === 'string' ? u['url'] : listOf(u['servers'])[0]) : undefined;
    if (isRecord(u) && u['tls'] !== undefined && typeof url === 'string' && /^(ws|http):/i.test(url)) {
      issue(['upstreams', i, 'tls'], 'tls applies to wss:// and https:// upstreams only');
    }
    if (!isRecord(u) || typeof u['name'] !== 'string') return;
    const first = upstreams.get(u['name']);
    if (first === undefined) upstreams.set(u['name'], i);
    else
      issue(
        ['upstreams', i, 'name'],
        `duplicate upstream name ${JSON.stringify(u['name'])} (also upstreams[${first}])`,
      );
  });

  const proxies = new Map<string, number>();
  listOf(value['proxies']).forEach((p, i) => {
    if (isRecord(p)) {
      const hasUrl = p['url'] !== undefined;
      const hasPac = p['pac'] !== undefined;
      if (hasUrl && hasPac) issue(['proxies', i, 'pac'], 'give url or pac, not both');
      else if (!hasUrl && !hasPac)
        issue(['proxies', i], `${MISSING_KEY}: a proxy needs url (one proxy) or pac (a PAC script that picks one)`);
    }
    if (!isRecord(p) || typeof p['name'] !== 'string') return;
    const first = proxies.get(p['name']);
    if (p['name'] === 'direct') issue(['proxies', i, 'name'], '"direct" is reserved: via: direct means no proxy');
    else if (first === undefined) proxies.set(p['name'], i);
    else issue(['proxies', i, 'name'], `duplicate proxy name ${JSON.stringify(p['name'])} (also proxies[${first}])`);
  });
  const checkVia = (ref: unknown, path: (string | number)[]) => {
    if (typeof ref !== 'string' || ref === '' || ref === 'direct' || proxies.has(ref)) return;
    const known = [...proxies.keys()];
    const hint =
      didYouMean(ref, [...known, 'direct']) ||
      (known.length === 0 ? '; no proxies are defined' : `; defined proxies: ${known.join(', ')}`);
    issue(path, `unknown proxy ${JSON.stringify(ref)}${hint}`);
  };
  listOf(value['upstreams']).forEach((u, i) => {
    if (isRecord(u)) checkVia(u['via'], ['upstreams', i, 'via']);
  });

  checkInspector(value['inspector'], issue);

  const listenerNames = new Map<string, number>();
  const routeNames = new Map<string, string>();
  // "<listener>/forward" and "<listener>/tunnel" name a forward listener's traffic (forward/state.ts routeName), in
  // rules' `route`, the inspector and HAR; a reverse route of that name would be taken for it.
  const allListenerNames = new Set(
    listOf(value['listeners']).flatMap((l, i) => (isRecord(l) ? [listenerNameOf(l, i)] : [])),
  );
  listOf(value['listeners']).forEach((l, i) => {
    if (!isRecord(l)) return;
    const listenerName = listenerNameOf(l, i);
    const first = listenerNames.get(listenerName);
    if (first === undefined) listenerNames.set(listenerName, i);
    else
      issue(
        ['listeners', i, 'name'],
        `duplicate listener name ${JSON.stringify(listenerName)} (also listeners[${first}])`,
      );
    checkForwardListener(l, i, issue, checkVia);

    listOf(l['routes']).forEach((r, j) => {
      if (!isRecord(r)) return;
      const here = `listeners[${i}].routes[${j}]`;
      const routeName = typeof r['name'] === 'string' ? r['name'] : `${listenerName}/route-${j}`;
      // Only a name given: the default "<listener>/route-<index>" never ends so.
      const reserved = typeof r['name'] === 'string' ? /^(.*)\/(forward|tunnel)$/.exec(r['name']) : null;
      if (reserved !== null && allListenerNames.has(reserved[1]!))
        issue(
          ['listeners', i, 'routes', j, 'name'],
          `route name ${JSON.stringify(routeName)} is reserved: "<listener>/${reserved[2]}" names a forward listener's traffic in rules and the inspector; pick another name`,
        );
      const firstRoute = routeNames.get(routeName);
      if (firstRoute === undefined) routeNames.set(routeName, here);
      else
        issue(
          ['listeners', i, 'routes', j, 'name'],
          `duplicate route name ${JSON.stringify(routeName)} (also ${firstRoute})`,
        );

      const ref = r['upstream'];
      if (typeof ref !== 'string' || ref === '' || ref.includes('://') || upstreams.has(ref)) return;
      const known = [...upstreams.keys()];
      let hint = didYouMean(ref, known);
      if (hint === '' && looksLikeAddress(ref)) hint = `; an inline upstream is a URL such as "ws://${ref}"`;
      else if (hint === '' && known.length === 0) hint = '; no upstreams are defined';
      else if (hint === '') hint = `; defined upstreams: ${known.join(', ')}`;
      issue(['listeners', i, 'routes', j, 'upstream'], `unknown upstream ${JSON.stringify(ref)}${hint}`);
    });
  });
  checkBinds(value, issue);
  checkRuleRefs(value, issue);
  checkForwardOnlyFaults(value, issue);
}

/**
 * Two servers on one address: the second bind would fail at `run` with EADDRINUSE, which reads like another
 * process holding the port. Reported at the later one, naming the first.
 */
function checkBinds(value: Record<string, unknown>, issue: (path: (string | number)[], message: string) => void): void {
  const binds: { path: (string | number)[]; what: string; host: string; port: number }[] = [];
  const add = (bind: unknown, path: (string | number)[], what: string) => {
    if (isRecord(bind) && typeof bind['host'] === 'string' && typeof bind['port'] === 'number')
      binds.push({ path, what, host: bind['host'], port: bind['port'] });
  };
  listOf(value['listeners']).forEach((l, i) => {
    if (isRecord(l)) add(l['bind'], ['listeners', i, 'bind'], `listener ${JSON.stringify(listenerNameOf(l, i))}`);
  });
  if (isRecord(value['inspector'])) add(value['inspector']['bind'], ['inspector', 'bind'], 'the inspector');
  if (isRecord(value['echo'])) add(value['echo']['bind'], ['echo', 'bind'], 'the echo server');
  binds.forEach((b, j) => {
    const first = binds.slice(0, j).find((a) => bindsOverlap(a, b));
    if (first === undefined) return;
    const same = formatHostPort(first.host, first.port) === formatHostPort(b.host, b.port);
    issue(
      b.path,
      `${formatHostPort(b.host, b.port)} is already taken by ${first.what}${same ? '' : ` (${formatHostPort(first.host, first.port)})`}: each listener, the inspector and the echo server need an address of their own`,
    );
  });
}

/** A listener is a reverse proxy (routes) or a forward proxy (forward), and an exposed forward proxy is never open. */
function checkForwardListener(
  l: Record<string, unknown>,
  i: number,
  issue: (path: (string | number)[], message: string) => void,
  checkVia: (ref: unknown, path: (string | number)[]) => void,
): void {
  const forward = l['forward'];
  if (l['routes'] !== undefined && forward !== undefined) {
    issue(
      ['listeners', i, 'forward'],
      'a listener has either routes (reverse proxy) or forward (forward proxy), not both',
    );
    return;
  }
  if (l['routes'] === undefined && forward === undefined) {
    issue(
      ['listeners', i, 'routes'],
      `${MISSING_KEY}: a listener needs routes (reverse proxy) or forward (forward proxy)`,
    );
    return;
  }
  if (!isRecord(forward)) return;
  if (l['trustForwarded'] !== undefined)
    issue(
      ['listeners', i, 'trustForwarded'],
      "trustForwarded applies to reverse listeners: a forward proxy adds Via and passes the client's own forwarding headers unchanged",
    );
  if (l['tls'] !== undefined)
    issue(['listeners', i, 'tls'], 'a forward listener does not serve TLS (yet): leave out tls');
  checkVia(forward['via'], ['listeners', i, 'forward', 'via']);
  const bind = l['bind'];
  const host = isRecord(bind) && typeof bind['host'] === 'string' ? bind['host'] : undefined;
  if (
    host !== undefined &&
    !isLoopbackHost(host) &&
    forward['auth'] === undefined &&
    forward['allowHosts'] === undefined
  ) {
    issue(
      ['listeners', i, 'forward'],
      `this forward listener binds ${host}, beyond loopback, with neither auth nor allowHosts: anyone who can reach it could use it as an open proxy. Add forward.auth (users), or forward.allowHosts, or bind 127.0.0.1`,
    );
  }
}

/** The admin API beyond loopback is reachable by other machines: it needs a token. */
function checkInspector(inspector: unknown, issue: (path: (string | number)[], message: string) => void): void {
  if (!isRecord(inspector)) return;
  const bind = inspector['bind'];
  const host = isRecord(bind) && typeof bind['host'] === 'string' ? bind['host'] : undefined;
  if (host !== undefined && !isLoopbackHost(host) && inspector['token'] === undefined) {
    issue(
      ['inspector', 'token'],
      `${MISSING_KEY}: the admin API binds ${host}, beyond loopback, so it needs inspector.token (e.g. token: \${WSGATE_ADMIN_TOKEN}), or bind 127.0.0.1`,
    );
  }
}
