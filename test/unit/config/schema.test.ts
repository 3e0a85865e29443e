// The schema's contracts with the rest of wsgate: the resolved types, the committed JSON Schema, and purity.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { renderConfigJsonSchema } from '../../../src/config/json-schema.ts';
import type { Config } from '../../../src/config/schema.ts';
import type { PROFILE_NAMES, RuleConfig } from '../../../src/config/shape-rules.ts';

// The shape the server code is written against. If the schema's output drifts, this file stops compiling.
type HostPort = { host: string; port: number };
type ExpectedRouteMatch = { host?: string; path?: string; pathPrefix?: string; headers?: Record<string, string> };
type ExpectedKeepalive = { intervalMs: number; to: 'client' | 'server' | 'both' };
type ExpectedHealthCheck = {
  interval: number;
  timeout: number;
  path?: string | undefined;
  fails: number;
  passes: number;
};
type ExpectedConfig = {
  listeners: {
    name: string;
    bind: HostPort;
    tls: { certs: { cert: string; key: string; serverNames: string[] | undefined }[] } | undefined;
    trustForwarded: string[];
    proxyProtocol?: { from?: string[] };
    forward:
      | {
          allowHosts: string[] | undefined;
          denyHosts: string[];
          allowPorts: { from: number; to: number }[] | undefined;
          destinations: 'any' | 'public';
          auth: { realm: string; users: { name: string; password: string }[] } | undefined;
          via: string | undefined;
          tap: 'off' | 'meta' | 'frames' | 'payload';
          intercept: string[];
          upstreamCa: string | undefined;
          profile: (typeof PROFILE_NAMES)[number] | undefined;
        }
      | undefined;
    routes: {
      name: string;
      match: ExpectedRouteMatch[];
      upstream: {
        name: string;
        url: string;
        pool?: {
          servers: string[];
          weights?: Record<string, number> | undefined;
          backups?: string[] | undefined;
          balance: 'least-connections' | 'round-robin' | 'ip-hash';
          failTimeout: number;
          healthCheck?: ExpectedHealthCheck | undefined;
        };
        proxyProtocol?: 'v1' | 'v2';
        preconnect?: number;
      };
      changeOrigin: boolean;
      rawPath: boolean;
      allowOrigins: string[] | undefined;
      tap: 'off' | 'meta' | 'frames' | 'payload';
      rules: string[];
      keepalive: ExpectedKeepalive | undefined;
      relay: { deflate: 'strip' | 'keep' };
    }[];
    rules: string[];
    keepalive: ExpectedKeepalive | undefined;
    relay: { deflate: 'strip' | 'keep' };
  }[];
  rules: RuleConfig[];
  upstreams: {
    name: string;
    url: string;
    servers: string[];
    weights?: Record<string, number> | undefined;
    backups?: string[] | undefined;
    balance: 'least-connections' | 'round-robin' | 'ip-hash';
    failTimeout: number;
    healthCheck: ExpectedHealthCheck | undefined;
    tls: { ca?: string; servername?: string; insecure: boolean } | undefined;
    via: string | undefined;
    proxyProtocol: 'v1' | 'v2' | undefined;
    preconnect: number;
  }[];
  proxies: { name: string; url?: string; pac?: string; noProxy: string[] }[];
  inspector:
    | {
        bind: HostPort;
        token: string | undefined;
        store: {
          maxBytes: number;
          maxMessagesPerConnection: number;
          disk: boolean;
          file: string | undefined;
          maxFileBytes: number;
          maxMessageBytes: number;
        };
      }
    | undefined;
  echo: { bind: HostPort } | undefined;
  log: {
    level: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
    format: 'auto' | 'json' | 'pretty';
    file: string | undefined;
    showSecrets: boolean;
    traffic: string | undefined;
    maxQueueBytes: number;
    redactQueryParams: string[];
    redactSubprotocols: boolean;
    tokenSubprotocolPrefixes: string[];
  };
  limits: {
    maxHeaderBytes: number;
    headersTimeout: number;
    bodyTimeout: number;
    connectTimeout: number;
    handshakeTimeout: number;
    responseTimeout: number;
    idleTimeout: number;
    maxBufferedBytes: number;
    tunnelIdleTimeout: number;
    maxRequestLineBytes: number;
    maxHeaderCount: number;
    maxConnections: number;
    maxConnectionsPerClient: number;
    maxHandshakesPerSecond: number;
    maxHandshakesPerClientPerSecond: number;
    clientIpv6Prefix: number;
    exemptLoopbackClients: boolean;
    maxFrameBytes: number;
    maxMessageBytes: number;
    maxFragments: number;
    maxPendingPings: number;
  };
  shutdown: { grace: number };
  workers: number | 'auto';
  tap: {
    level: 'off' | 'meta' | 'frames' | 'payload';
    previewBytes: number;
    maxDecodedBytes: number;
    redactJsonKeys: string[];
    redactPatterns: string[];
    onViolation: 'log' | 'close';
  };
  tls: { caDir: string; keyLog: string | undefined };
};
type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;
const sameShape: Equal<Config, ExpectedConfig> = true;

test('the resolved Config type is exactly the agreed shape', () => {
  assert.equal(sameShape, true);
});

test('config/wsgate.schema.json is up to date (regenerate with `node scripts/gen-schema.ts`)', () => {
  const committed = readFileSync(new URL('../../../config/wsgate.schema.json', import.meta.url), 'utf8');
  assert.equal(committed, renderConfigJsonSchema());
});

test('every key in the JSON Schema has a description', () => {
  const missing: string[] = [];
  const walk = (node: unknown, where: string) => {
    if (Array.isArray(node)) {
      for (const [i, n] of node.entries()) walk(n, `${where}[${i}]`);
      return;
    }
    if (node === null || typeof node !== 'object') return;
    const record = node as Record<string, unknown>;
    const properties = record['properties'];
    if (properties !== null && typeof properties === 'object') {
      for (const [key, schema] of Object.entries(properties)) {
        if (typeof (schema as { description?: unknown }).description !== 'string') missing.push(`${where}.${key}`);
      }
    }
    for (const [key, child] of Object.entries(record)) walk(child, `${where}/${key}`);
  };
  walk(JSON.parse(renderConfigJsonSchema()), '#');
  assert.deepEqual(missing, []);
});

test('the JSON Schema describes the input side: durations and sizes are strings', () => {
  const schema = JSON.parse(renderConfigJsonSchema());
  const limits = schema.properties.limits.properties;
  assert.equal(limits.idleTimeout.default, 0);
  assert.equal(limits.headersTimeout.default, '10s');
  assert.equal(limits.maxHeaderBytes.default, '16KiB');
  assert.ok(limits.headersTimeout.anyOf.some((s: { type?: string }) => s.type === 'string'));
  assert.equal(schema.additionalProperties, false);
  assert.deepEqual(schema.required, ['listeners']);
});

test('the pure config modules do no I/O', () => {
  // design.md: parse, schema, env and units take values and return values; load.ts and watch.ts are the edges.
  const pure = ['parse', 'env', 'units', 'issues', 'suggest', 'validate', 'json-schema', 'display'];
  const schema = ['schema', 'fields', 'shape', 'shape-route', 'shape-listener', 'checks', 'resolve'];
  for (const name of [...pure, ...schema]) {
    const source = readFileSync(new URL(`../../../src/config/${name}.ts`, import.meta.url), 'utf8');
    const imports = [...source.matchAll(/^import .* from '([^']+)';$/gm)].map((m) => m[1]);
    for (const specifier of imports) {
      assert.ok(!specifier?.startsWith('node:'), `${name}.ts imports ${specifier}`);
      assert.ok(specifier !== './load.ts' && specifier !== './watch.ts', `${name}.ts imports ${specifier}`);
    }
    assert.doesNotMatch(source, /process\.env|require\(/, `${name}.ts reads the environment or requires`);
  }
});
