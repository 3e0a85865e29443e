import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import { WsgateError } from '../../../src/errors.ts';
import {
  compileRoutes,
  explainRoute,
  headerMisses,
  headersNotGiven,
  matchRoute,
  type RouteLike,
  type RouteMatch,
  type RouteRequest,
} from '../../../src/reverse/match.ts';

type Headers = RouteRequest['headers'];

function req(host: string | undefined, path = '/', headers: Headers = {}): RouteRequest {
  return { host, path, headers };
}

/** Does a single route with this one match object accept the request? */
function accepts(match: RouteMatch, request: RouteRequest, rawPath = false): boolean {
  const compiled = compileRoutes([{ name: 'r', match: [match], rawPath }]);
  return matchRoute(compiled, request).route !== undefined;
}

type Case = { name: string; match: RouteMatch; req: RouteRequest; want: boolean; rawPath?: boolean };

function runTable(cases: readonly Case[]): void {
  for (const c of cases) {
    test(c.name, () => {
      assert.equal(accepts(c.match, c.req, c.rawPath), c.want);
    });
  }
}

describe('host', () => {
  runTable([
    { name: 'exact', match: { host: 'a.test' }, req: req('a.test'), want: true },
    { name: 'exact, other host', match: { host: 'a.test' }, req: req('b.test'), want: false },
    { name: 'uppercase Host header', match: { host: 'a.test' }, req: req('A.TEST'), want: true },
    {
      name: 'uppercase pattern is compared case-insensitively',
      match: { host: 'A.Test' },
      req: req('a.test'),
      want: true,
    },
    { name: 'port stripped', match: { host: 'a.test' }, req: req('a.test:8080'), want: true },
    { name: 'trailing dot ignored', match: { host: 'a.test' }, req: req('a.test.'), want: true },
    { name: 'trailing dot with port', match: { host: 'a.test' }, req: req('a.test.:443'), want: true },
    { name: 'trailing dot in pattern', match: { host: 'a.test.' }, req: req('a.test'), want: true },
    { name: 'suffix is not the host', match: { host: 'a.test' }, req: req('xa.test'), want: false },
    { name: 'missing Host', match: { host: 'a.test' }, req: req(undefined), want: false },
    { name: 'empty Host', match: { host: 'a.test' }, req: req(''), want: false },
    { name: 'empty Host, no host key', match: { path: '/' }, req: req(''), want: true },
    { name: 'IPv6 with port', match: { host: '::1' }, req: req('[::1]:8080'), want: true },
    { name: 'IPv6 without port', match: { host: '::1' }, req: req('[::1]'), want: true },
    { name: 'IPv6 pattern in brackets', match: { host: '[::1]' }, req: req('[::1]:8080'), want: true },
    { name: 'IPv6 other address', match: { host: '::1' }, req: req('[::2]:8080'), want: false },
    { name: 'IPv6 uppercase hex', match: { host: 'fe80::a' }, req: req('[FE80::A]'), want: true },
    // RFC 4291 §2.2 lets one address be written many ways; RFC 5952's one form is what both sides are compared in.
    { name: 'IPv6 fully written', match: { host: '[::1]' }, req: req('[0:0:0:0:0:0:0:1]:8080'), want: true },
    { name: 'IPv6 partly compressed', match: { host: '[::1]' }, req: req('[0:0::1]'), want: true },
    { name: 'IPv6 leading zeros', match: { host: '[::1]' }, req: req('[0000::0001]:80'), want: true },
    { name: 'IPv6 pattern not canonical', match: { host: '[0:0::1]' }, req: req('[::1]:8080'), want: true },
    { name: 'IPv6 unbracketed pattern', match: { host: '0:0::1' }, req: req('[::1]'), want: true },
    { name: 'IPv6 upper-case pattern', match: { host: '[FE80::A]' }, req: req('[fe80:0::a]'), want: true },
    {
      name: 'IPv4-mapped, dotted in the pattern, hex in the Host',
      match: { host: '[::ffff:127.0.0.1]' },
      req: req('[::FFFF:7F00:1]:8080'),
      want: true,
    },
    {
      name: 'IPv4-mapped, hex in the pattern, dotted in the Host',
      match: { host: '[::ffff:7f00:1]' },
      req: req('[::ffff:127.0.0.1]'),
      want: true,
    },
    { name: 'IPv6 canonical, other address', match: { host: '[::1]' }, req: req('[0:0::2]'), want: false },
    {
      name: 'IPv4-mapped is not the IPv4 host',
      match: { host: '127.0.0.1' },
      req: req('[::ffff:127.0.0.1]'),
      want: false,
    },
    {
      name: 'IPv6 zone id matches as written',
      match: { host: '[fe80::1%eth0]' },
      req: req('[fe80::1%eth0]'),
      want: true,
    },
    { name: 'not an IPv6 literal stays text', match: { host: '[::1]' }, req: req('[::1::]'), want: false },
    { name: 'IPv4 with port', match: { host: '127.0.0.1' }, req: req('127.0.0.1:9000'), want: true },
    { name: 'wildcard, one label', match: { host: '*.example.com' }, req: req('a.example.com'), want: true },
    { name: 'wildcard, two labels', match: { host: '*.example.com' }, req: req('a.b.example.com'), want: true },
    { name: 'wildcard, apex', match: { host: '*.example.com' }, req: req('example.com'), want: false },
    { name: 'wildcard, empty label', match: { host: '*.example.com' }, req: req('.example.com'), want: false },
    { name: 'wildcard, lookalike', match: { host: '*.example.com' }, req: req('badexample.com'), want: false },
    {
      name: 'wildcard, uppercase + port',
      match: { host: '*.example.com' },
      req: req('A.Example.COM:8443'),
      want: true,
    },
    { name: 'wildcard, trailing dot', match: { host: '*.example.com' }, req: req('a.example.com.'), want: true },
  ]);
});

describe('path', () => {
  runTable([
    { name: 'exact', match: { path: '/echo' }, req: req('h', '/echo'), want: true },
    { name: 'exact ignores query', match: { path: '/echo' }, req: req('h', '/echo?room=1'), want: true },
    { name: 'exact, empty query', match: { path: '/echo' }, req: req('h', '/echo?'), want: true },
    { name: 'exact, trailing slash differs', match: { path: '/echo' }, req: req('h', '/echo/'), want: false },
    { name: 'exact, longer', match: { path: '/echo' }, req: req('h', '/echo/x'), want: false },
    { name: 'exact is case-sensitive', match: { path: '/echo' }, req: req('h', '/ECHO'), want: false },
    { name: 'exact, not decoded', match: { path: '/a/b' }, req: req('h', '/a%2Fb'), want: false },
    // An encoded slash has no canonical form: only a rawPath route compares (and forwards) it as written.
    { name: 'exact, encoded pattern', match: { path: '/a%2Fb' }, rawPath: true, req: req('h', '/a%2Fb'), want: true },
    { name: 'exact, encoded pattern, no rawPath', match: { path: '/a%2Fb' }, req: req('h', '/a%2Fb'), want: false },
    { name: 'prefix, equal', match: { pathPrefix: '/api' }, req: req('h', '/api'), want: true },
    { name: 'prefix, slash', match: { pathPrefix: '/api' }, req: req('h', '/api/'), want: true },
    { name: 'prefix, below', match: { pathPrefix: '/api' }, req: req('h', '/api/x/y'), want: true },
    { name: 'prefix, query', match: { pathPrefix: '/api' }, req: req('h', '/api?x=1'), want: true },
    { name: 'prefix, segment boundary', match: { pathPrefix: '/api' }, req: req('h', '/apix'), want: false },
    { name: 'prefix, query is not a segment', match: { pathPrefix: '/api' }, req: req('h', '/apix?/'), want: false },
    { name: 'prefix, shorter', match: { pathPrefix: '/api' }, req: req('h', '/ap'), want: false },
    { name: 'slash prefix, below', match: { pathPrefix: '/api/' }, req: req('h', '/api/x'), want: true },
    { name: 'slash prefix, bare', match: { pathPrefix: '/api/' }, req: req('h', '/api'), want: false },
    { name: 'root prefix', match: { pathPrefix: '/' }, req: req('h', '/anything'), want: true },
    { name: 'prefix, not decoded', match: { pathPrefix: '/api/' }, req: req('h', '/api%2Fx'), want: false },
  ]);
});

describe('headers', () => {
  runTable([
    { name: 'equals', match: { headers: { 'x-canary': '1' } }, req: req('h', '/', { 'x-canary': '1' }), want: true },
    {
      name: 'equals, other',
      match: { headers: { 'x-canary': '1' } },
      req: req('h', '/', { 'x-canary': '0' }),
      want: false,
    },
    {
      name: 'equals is case-sensitive',
      match: { headers: { 'x-env': 'Blue' } },
      req: req('h', '/', { 'x-env': 'blue' }),
      want: false,
    },
    {
      name: 'equals, no substring',
      match: { headers: { 'x-canary': '1' } },
      req: req('h', '/', { 'x-canary': '10' }),
      want: false,
    },
    { name: 'missing', match: { headers: { 'x-canary': '1' } }, req: req('h', '/', {}), want: false },
    {
      name: 'undefined value',
      match: { headers: { 'x-canary': '1' } },
      req: req('h', '/', { 'x-canary': undefined }),
      want: false,
    },
    { name: 'empty value equals ""', match: { headers: { 'x-e': '' } }, req: req('h', '/', { 'x-e': '' }), want: true },
    {
      name: 'mixed-case request name (hand-built headers)',
      match: { headers: { 'x-canary': '1' } },
      req: req('h', '/', { 'X-Canary': '1' }),
      want: true,
    },
    {
      name: 'equals, repeated: any value',
      match: { headers: { 'x-t': 'b' } },
      req: req('h', '/', { 'x-t': ['a', 'b'] }),
      want: true,
    },
    {
      name: 'equals, repeated: joined',
      match: { headers: { 'x-t': 'a, b' } },
      req: req('h', '/', { 'x-t': ['a', 'b'] }),
      want: true,
    },
    { name: 'equals, empty array', match: { headers: { 'x-t': 'a' } }, req: req('h', '/', { 'x-t': [] }), want: false },
    {
      name: 'regex',
      match: { headers: { 'user-agent': '/firefox/i' } },
      req: req('h', '/', { 'user-agent': 'Mozilla/5.0 Firefox/130' }),
      want: true,
    },
    {
      name: 'regex, no match',
      match: { headers: { 'user-agent': '/firefox/' } },
      req: req('h', '/', { 'user-agent': 'Mozilla/5.0 Firefox/130' }),
      want: false,
    },
    {
      name: 'regex, anchored',
      match: { headers: { 'x-v': '/^v[0-9]+$/' } },
      req: req('h', '/', { 'x-v': 'v12' }),
      want: true,
    },
    {
      name: 'regex, repeated: one value',
      match: { headers: { 'x-v': '/^b$/' } },
      req: req('h', '/', { 'x-v': ['a', 'b'] }),
      want: true,
    },
    {
      name: 'regex, repeated: joined',
      match: { headers: { 'x-v': '/^a, b$/' } },
      req: req('h', '/', { 'x-v': ['a', 'b'] }),
      want: true,
    },
    {
      name: 'regex containing slashes',
      match: { headers: { referer: '/^https:\\/\\/a\\.test\\//' } },
      req: req('h', '/', { referer: 'https://a.test/page' }),
      want: true,
    },
    {
      name: 'regex, missing header',
      match: { headers: { 'x-v': '/.*/' } },
      req: req('h', '/', {}),
      want: false,
    },
    {
      name: 'a lone slash is a literal',
      match: { headers: { 'x-p': '/' } },
      req: req('h', '/', { 'x-p': '/' }),
      want: true,
    },
    {
      name: 'two headers are ANDed',
      match: { headers: { 'x-a': '1', 'x-b': '2' } },
      req: req('h', '/', { 'x-a': '1' }),
      want: false,
    },
    {
      name: 'two headers, both present',
      match: { headers: { 'x-a': '1', 'x-b': '2' } },
      req: req('h', '/', { 'x-a': '1', 'x-b': '2' }),
      want: true,
    },
  ]);

  test('a g or y flag does not make matching stateful', () => {
    for (const flags of ['g', 'y', 'gy']) {
      const compiled = compileRoutes([{ name: 'r', match: [{ headers: { 'x-v': `/a/${flags}` } }] }]);
      for (let i = 0; i < 3; i++) {
        assert.ok(matchRoute(compiled, req('h', '/', { 'x-v': 'a' })).route, `flags ${flags}, try ${i}`);
      }
    }
  });

  test('an invalid regex is a config error with a code', () => {
    assert.throws(
      () => compileRoutes([{ name: 'web/bad', match: [{ headers: { 'x-v': '/(/' } }] }]),
      (err: unknown) => err instanceof WsgateError && err.code === 'WSG_CONFIG_INVALID' && /web\/bad/.test(err.message),
    );
    assert.throws(
      () => compileRoutes([{ name: 'r', match: [{ headers: { 'x-v': '/a/q' } }] }]),
      (err: unknown) => err instanceof WsgateError && err.code === 'WSG_CONFIG_INVALID',
    );
  });
});

describe('AND inside a match, OR across the list', () => {
  const both: RouteMatch = { host: 'a.test', pathPrefix: '/api' };
  runTable([
    { name: 'host and prefix', match: both, req: req('a.test', '/api/x'), want: true },
    { name: 'host only', match: both, req: req('a.test', '/web'), want: false },
    { name: 'prefix only', match: both, req: req('b.test', '/api/x'), want: false },
    { name: '{} matches everything', match: {}, req: req(undefined, '*'), want: true },
  ]);

  test('any object of the list may match', () => {
    const compiled = compileRoutes([
      { name: 'r', match: [{ host: 'a.test', pathPrefix: '/socket' }, { headers: { 'x-canary': '1' } }] },
    ]);
    assert.ok(matchRoute(compiled, req('a.test', '/socket')).route);
    assert.ok(matchRoute(compiled, req('z.test', '/', { 'x-canary': '1' })).route);
    assert.equal(matchRoute(compiled, req('z.test', '/socket')).route, undefined);
  });

  test('an empty match list matches nothing', () => {
    const compiled = compileRoutes([{ name: 'r', match: [] }]);
    assert.equal(matchRoute(compiled, req('a.test', '/')).route, undefined);
  });
});

describe('route order', () => {
  type Route = RouteLike & { upstream: string };
  const routes: Route[] = [
    { name: 'web/echo', match: [{ path: '/echo' }], upstream: 'echo' },
    { name: 'web/api', match: [{ pathPrefix: '/api' }], upstream: 'api' },
    { name: 'web/api-v2', match: [{ pathPrefix: '/api/v2' }], upstream: 'never' },
    { name: 'web/all', match: [{}], upstream: 'default' },
  ];
  const compiled = compileRoutes(routes);

  const cases: [path: string, want: string][] = [
    ['/echo', 'web/echo'],
    ['/echo?x', 'web/echo'],
    ['/api/v2/x', 'web/api'],
    ['/apix', 'web/all'],
    ['/', 'web/all'],
  ];
  for (const [path, want] of cases) {
    test(`${path} → ${want}`, () => {
      const result = matchRoute(compiled, req('a.test', path));
      assert.equal(result.route?.name, want);
    });
  }

  test('the matched route is the caller’s own object, with its extra fields', () => {
    const result = matchRoute(compiled, req('a.test', '/echo'));
    assert.equal(result.route, routes[0]);
    assert.equal(result.route?.upstream, 'echo');
  });

  test('no routes → no match', () => {
    const result = matchRoute(compileRoutes([]), req('a.test', '/'));
    assert.equal(result.route, undefined);
    assert.equal(result.why, 'no route matched: host "a.test" path "/" (tried 0 routes)');
  });
});

describe('why', () => {
  const compiled = compileRoutes([
    { name: 'web/echo', match: [{ path: '/echo' }] },
    { name: 'web/chat', match: [{ host: 'chat.test', pathPrefix: '/socket' }, { headers: { 'x-canary': '1' } }] },
    { name: 'web/ua', match: [{ headers: { 'user-agent': '/curl/i' } }] },
  ]);

  const cases: [request: RouteRequest, want: string][] = [
    [req('a.test', '/echo?x=1'), 'route "web/echo": path is "/echo"'],
    [
      req('chat.test', '/socket/1'),
      'route "web/chat": host is "chat.test" and path starts with "/socket" (match 1 of 2)',
    ],
    [req('x.test', '/', { 'x-canary': '1' }), 'route "web/chat": header x-canary is "1" (match 2 of 2)'],
    [req('x.test', '/', { 'user-agent': 'curl/8' }), 'route "web/ua": header user-agent matches /curl/i'],
    [req('A.Test:80', '/x?q=1'), 'no route matched: host "a.test" path "/x" (tried 3 routes)'],
    [req(undefined, '/x'), 'no route matched: host (none) path "/x" (tried 3 routes)'],
    [req('[::1]:8080', '/x'), 'no route matched: host "::1" path "/x" (tried 3 routes)'],
    [req('[0:0:0:0:0:0:0:1]:8080', '/x'), 'no route matched: host "::1" path "/x" (tried 3 routes)'],
    [req('a\nb', '/x"y'), 'no route matched: host "a\\nb" path "/x\\"y" (tried 3 routes)'],
  ];
  for (const [request, want] of cases) {
    test(want, () => {
      assert.equal(matchRoute(compiled, request).why, want);
    });
  }

  test('one route is "route", not "routes"', () => {
    const one = compileRoutes([{ name: 'r', match: [{ path: '/a' }] }]);
    assert.match(matchRoute(one, req('h', '/b')).why, /\(tried 1 route\)$/);
  });

  test('long request values are truncated', () => {
    const why = matchRoute(compiled, req('h'.repeat(5000), '/')).why;
    assert.ok(why.length < 400, `why is ${why.length} chars`);
    assert.match(why, /…"/);
  });
});

describe('explainRoute', () => {
  const cases: [match: RouteMatch[], want: string][] = [
    [
      [{ host: '*.example.com', pathPrefix: '/api' }, { headers: { 'x-canary': '1' } }],
      'host is "*.example.com" and path starts with "/api"; or header x-canary is "1"',
    ],
    [[{ path: '/echo' }], 'path is "/echo"'],
    [[{ headers: { 'user-agent': '/curl/i', 'x-a': 'b' } }], 'header user-agent matches /curl/i and header x-a is "b"'],
    [[{}], 'any request'],
    [[], 'matches no request (empty match list)'],
  ];
  for (const [match, want] of cases) {
    test(want, () => {
      assert.equal(explainRoute({ name: 'r', match }), want);
    });
  }
});

test('match.ts stays pure: no sockets, file system or timers', () => {
  const source = readFileSync(new URL('../../../src/reverse/match.ts', import.meta.url), 'utf8');
  const imports = [...source.matchAll(/from\s+'([^']+)'/g)].map((m) => m[1]);
  for (const spec of imports) {
    assert.doesNotMatch(spec ?? '', /^(node:)?(net|http|https|http2|tls|fs|dgram|timers)(\/|$)/, spec);
  }
  assert.doesNotMatch(source, /\b(setTimeout|setInterval|setImmediate)\(/);
});

describe('canonical paths: one form to match and to forward', () => {
  type Route = RouteLike & { upstream: string };
  const routes: Route[] = [
    { name: 'public', match: [{ pathPrefix: '/public' }], upstream: 'a' },
    { name: 'files', match: [{ pathPrefix: '/files' }], rawPath: true, upstream: 'raw' },
    { name: 'tilde', match: [{ path: '/%7Euser' }], upstream: 'b' },
  ];
  const compiled = compileRoutes(routes);

  const matched: [path: string, route: string, target: string][] = [
    ['/public/x', 'public', '/public/x'],
    ['/public/./x?a=%2F', 'public', '/public/x?a=%2F'],
    ['/%70ublic/x', 'public', '/public/x'],
    ['/public/%2e%2e/public/y', 'public', '/public/y'],
    ['/other/../public', 'public', '/public'],
    // The pattern is canonical too: `/%7Euser` in the config is `/~user`.
    ['/~user', 'tilde', '/~user'],
    ['/%7euser', 'tilde', '/~user'],
    // rawPath: matched and forwarded exactly as received, ambiguous encodings included.
    ['/files/a%2Fb', 'files', '/files/a%2Fb'],
    ['/files/../secret', 'files', '/files/../secret'],
    ['/files/x\\y?q', 'files', '/files/x\\y?q'],
  ];
  for (const [path, route, target] of matched) {
    test(`${path} → ${route}, forwarded as ${target}`, () => {
      const result = matchRoute(compiled, req('h', path));
      assert.equal(result.route?.name, route, result.why);
      assert.ok(result.route !== undefined && result.target === target, JSON.stringify(result));
    });
  }

  const unmatched: [path: string, ambiguous: boolean][] = [
    ['/public/../admin', false],
    ['/public/%2e%2e/admin', false],
    ['/publicx', false],
    // A route without rawPath that would take the path refuses the ambiguity…
    ['/public%2Fadmin', true],
    ['/public/..%2Fadmin', true],
    ['/public\\..\\admin', true],
    ['/public/..;/admin', true],
    ['/public/%00', true],
    ['/public/%252e', true],
    // …and so does the end of the table: an ambiguous path is a 400, never a 404.
    ['/admin%2Fx', true],
  ];
  for (const [path, ambiguous] of unmatched) {
    test(`${path} → ${ambiguous ? 'refused as ambiguous' : 'no route'}`, () => {
      const result = matchRoute(compiled, req('h', path));
      assert.equal(result.route, undefined, result.why);
      assert.equal(result.route === undefined && result.ambiguous !== undefined, ambiguous, JSON.stringify(result));
    });
  }

  test('the canonical path is what `why` quotes', () => {
    assert.equal(
      matchRoute(compiled, req('h', '/public/../admin')).why,
      'no route matched: host "h" path "/admin" (tried 3 routes)',
    );
  });

  test('a route without rawPath that would take an ambiguous path says so', () => {
    assert.match(matchRoute(compiled, req('h', '/public/x%2Fy')).why, /^route "public": .*, but it has no rawPath$/);
  });

  test('an earlier route without rawPath keeps a later rawPath route from an ambiguous path it would take', () => {
    const table = compileRoutes([
      { name: 'strict', match: [{ pathPrefix: '/a' }] },
      { name: 'raw-all', match: [{}], rawPath: true },
    ]);
    assert.equal(matchRoute(table, req('h', '/a/x%2Fy')).route, undefined);
    assert.equal(matchRoute(table, req('h', '/b/x%2Fy')).route?.name, 'raw-all');
  });
});

test('headerMisses names routes missed only on a header given with another value, up to the route taken', () => {
  const table = compileRoutes([
    { name: 'blue', match: [{ pathPrefix: '/ws', headers: { 'x-tenant': 'blue' } }] },
    { name: 'beta', match: [{ pathPrefix: '/ws', headers: { 'x-beta': '/^(1|yes)$/i', 'x-tenant': 'red' } }] },
    { name: 'other-path', match: [{ pathPrefix: '/api', headers: { 'x-tenant': 'green' } }] },
    { name: 'any', match: [{}] },
    { name: 'after', match: [{ headers: { 'x-tenant': 'violet' } }] },
  ]);
  const request = req('h', '/ws/x', { 'x-tenant': 'red', 'x-beta': 'no' });
  const taken = matchRoute(table, request).route;
  assert.equal(taken?.name, 'any');
  assert.deepEqual(headerMisses(table, request, taken), [
    'route "blue": header x-tenant is "red", not "blue"',
    'route "beta": header x-beta is "no", not a match for /^(1|yes)$/i',
  ]);
  // A header not given at all is not a miss of this kind (check --explain says so in its own note).
  assert.deepEqual(headerMisses(table, req('h', '/ws/x'), taken), []);
  // Without a route taken, every route is looked at (beta's x-tenant is right; its x-beta was not given).
  assert.deepEqual(
    headerMisses(table, req('h', '/ws', { 'x-tenant': 'red' }), undefined).map((m) => m.split(':')[0]),
    ['route "blue"', 'route "after"'],
  );
});

test('headersNotGiven names the routes a missing header could choose, and only those whose host and path fit', () => {
  const table = compileRoutes([
    {
      name: 'v2',
      match: [
        { path: '/ws', headers: { 'x-version': '2' } },
        { path: '/v2', headers: { 'x-beta': '1' } },
      ],
    },
    { name: 'admin', match: [{ host: 'admin.test', headers: { 'x-admin': '1' } }] },
    { name: 'tenant', match: [{ pathPrefix: '/ws', headers: { 'x-tenant': 'blue', 'x-region': 'eu' } }] },
    { name: 'any', match: [{}] },
    { name: 'after', match: [{ headers: { 'x-late': '1' } }] },
  ]);
  const names = (request: RouteRequest) =>
    headersNotGiven(table, request, matchRoute(table, request).route).map((r) => `${r.route.name} ${r.headers}`);
  // /ws: v2's first object fits (x-beta belongs to /v2, which cannot), tenant's too; admin's host does not.
  assert.deepEqual(names(req('h', '/ws')), ['v2 x-version', 'tenant x-tenant,x-region']);
  // A header given (even with another value) is not missing: headerMisses speaks of that one.
  assert.deepEqual(names(req('h', '/ws', { 'x-tenant': 'red' })), ['v2 x-version', 'tenant x-region']);
  // A path no header-matching route takes: nothing to name.
  assert.deepEqual(names(req('h', '/nothing')), []);
  assert.deepEqual(names(req('admin.test', '/')), ['admin x-admin']);
  // Without a route taken every route is looked at; with one, only those before it.
  assert.deepEqual(
    headersNotGiven(table, req('h', '/x'), undefined).map((r) => r.route.name),
    ['after'],
  );
});

test('headerMisses compares an IPv6 Host in canonical form, as matchRoute does', () => {
  const table = compileRoutes([
    { name: 'v6', match: [{ host: '[::1]', headers: { 'x-tenant': 'blue' } }] },
    { name: 'any', match: [{}] },
  ]);
  const request = req('[0:0:0:0:0:0:0:1]:8080', '/', { 'x-tenant': 'red' });
  const taken = matchRoute(table, request).route;
  assert.equal(taken?.name, 'any');
  assert.deepEqual(headerMisses(table, request, taken), ['route "v6": header x-tenant is "red", not "blue"']);
  assert.equal(matchRoute(table, { ...request, headers: { 'x-tenant': 'blue' } }).route?.name, 'v6');
});
