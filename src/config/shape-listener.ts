// The shape of a listener: its address, TLS certificates (one pair, or several chosen by SNI), and either routes
// (reverse proxy) or a forward block (forward proxy: host and port rules, destinations, auth, interception).
// Keys, defaults and descriptions only; checks across keys are checks.ts's, defaults that depend on the bind
// address are resolve.ts's. Pure.

import { z } from 'zod';
import { isIpLiteral } from '../net/ip.ts';
import { cidr, filePath, hostPattern, hostPort, isRecord, name, portRule, proxyRef } from './fields.ts';
import { keepalive, relaySettings, ruleRefs } from './shape-relay.ts';
import { matchHost, route, tapLevel } from './shape-route.ts';
import { PROFILE_NAMES } from './shape-rules.ts';

// RFC 6066 §3: SNI carries host names only, never an address: a client that connects by address sends none and
// gets the first certificate, so an address here would never choose its certificate.
const serverName = matchHost
  .superRefine((host, ctx) => {
    if (!isIpLiteral(host)) return;
    ctx.addIssue({
      code: 'custom',
      message: `${JSON.stringify(host)} is an IP address, and SNI never carries one (RFC 6066 §3): a client that connects by address sends no server name and gets the listener's first certificate; list host names here`,
      input: host,
    });
  })
  .describe('A server name, exact or "*.example.com" for any one-label subdomain.');

const serverCert = z.strictObject({
  cert: filePath().describe(
    'PEM certificate file: the certificate, then any intermediate certificates. Relative to the working directory.',
  ),
  key: filePath().describe('PEM private key file of that certificate (not encrypted).'),
  serverNames: z
    .array(serverName)
    .min(1, { error: 'list at least one name, or leave out serverNames to use the names in the certificate' })
    .optional()
    .describe('SNI names this certificate is served for. Default: the DNS names in the certificate.'),
});

const listenerTls = z
  .strictObject({
    cert: filePath()
      .optional()
      .describe(
        'PEM certificate file: the certificate, then any intermediate certificates. Relative to the working directory.',
      ),
    key: filePath().optional().describe('PEM private key file of that certificate (not encrypted).'),
    certs: z
      .array(serverCert.describe('One certificate and its key.'))
      .min(1, { error: 'list at least one certificate' })
      .optional()
      .describe(
        'Several certificates, chosen by the server name (SNI) the client asks for; the first is served when none matches.',
      ),
  })
  .superRefine(
    (t, ctx) => {
      if (!isRecord(t)) return;
      const issue = (key: string, message: string) =>
        ctx.addIssue({ code: 'custom', path: [key], params: { atKey: true }, message });
      if (t.certs !== undefined) {
        if (t.cert !== undefined) issue('cert', 'use either cert and key, or certs, not both');
        if (t.key !== undefined) issue('key', 'use either cert and key, or certs, not both');
      } else if (t.cert === undefined && t.key === undefined) {
        ctx.addIssue({ code: 'custom', path: [], message: 'a TLS listener needs cert and key (or certs)' });
      } else if (t.cert === undefined) issue('key', 'key needs its cert next to it');
      else if (t.key === undefined) issue('cert', 'cert needs its key next to it');
    },
    { when: () => true },
  )
  .transform((t) => ({
    certs: (t.certs ?? [{ cert: t.cert ?? '', key: t.key ?? '' }]).map((c) => ({
      cert: c.cert,
      key: c.key,
      serverNames: 'serverNames' in c ? c.serverNames : undefined,
    })),
  }))
  .describe(
    'Serve HTTPS and WSS on this listener (TLS 1.2 or newer, ALPN http/1.1): cert and key, or certs chosen by SNI.',
  );

const forwardUser = z.strictObject({
  name: z
    .string()
    .min(1, { error: 'must not be empty' })
    .regex(/^[^:\s]+$/, { error: 'a user name has no ":" or whitespace (Basic credentials split at the first ":")' })
    .describe('The user name clients send.'),
  password: z
    .string()
    .min(1, { error: 'must not be empty' })
    .describe(`The password; write "\${VAR}" to take it from the environment rather than the file.`),
});

const forwardAuth = z.strictObject({
  realm: z
    .string()
    .regex(/^[^"\\\x00-\x1f]+$/, { error: 'a realm has no quotes, backslashes or control characters' })
    .default('wsgate')
    .describe('The realm named in the Proxy-Authenticate challenge (browsers show it in the login prompt).'),
  users: z
    .array(forwardUser.describe('One user.'))
    .min(1, { error: 'list at least one user' })
    .describe('Who may use the proxy (Basic proxy authentication; clients without valid credentials get 407).'),
});

export const forwardBlock = z.strictObject({
  allowHosts: z
    .array(hostPattern())
    .min(1, { error: 'list at least one host, or leave out allowHosts to allow any host' })
    .optional()
    .describe('Only these hosts may be reached. Default: any host (denyHosts and destinations still apply).'),
  denyHosts: z
    .array(hostPattern())
    .default([])
    .describe('These hosts (and, for addresses and ranges, names resolving into them) are refused with 403.'),
  allowPorts: z
    .array(portRule())
    .min(1, { error: 'list at least one port, or leave out allowPorts for the default' })
    .optional()
    .describe(
      'Ports clients may reach. Default on a loopback address: every port except the ones browsers block (22, 25, …); on any other address: 80 and 443.',
    ),
  destinations: z
    .enum(['any', 'public'])
    .optional()
    .describe(
      '"public" refuses loopback, private, link-local, CGNAT, unique-local and metadata addresses (checked after DNS, before dialing). Default: "any" on a loopback address, "public" otherwise.',
    ),
  auth: forwardAuth.optional().describe('Require Basic proxy authentication (Proxy-Authorization).'),
  via: proxyRef().optional(),
  intercept: z
    .array(hostPattern())
    .default([])
    .describe(
      "Decrypt CONNECT tunnels to these hosts (as the client names them in CONNECT) with leaf certificates from wsgate's CA (tls.caDir, created on first use), so their HTTP and WebSocket traffic is proxied and logged like a reverse listener's; other TLS tunnels pass blindly. Clients must trust the CA: `wsgate ca trust-help`.",
    ),
  profile: z
    .enum(PROFILE_NAMES)
    .optional()
    .describe(
      "Play a real proxy: a bundle of fault rules imitating it (squid-default, auth-407, ssl-inspect, idle-cut-60s, buffering-proxy, strip-extensions), applied before the listener's own rules. See docs/rules.md.",
    ),
  upstreamCa: filePath()
    .optional()
    .describe(
      "A PEM file of CA certificates trusted, in addition to Node's roots and the system's, for the TLS connections this listener opens to destinations (intercepted tunnels, https:// and wss:// requests).",
    ),
});

export const listener = z.strictObject({
  name: name().optional().describe('Names the listener in logs. Default: "listener-<index>".'),
  bind: hostPort().describe('The address to listen on, "host:port". Port 0 picks a free port.'),
  routes: z
    .array(route.describe('One route; the first whose match holds takes the request.'))
    .min(1, { error: 'list at least one route' })
    .optional()
    .describe('Routes tried top to bottom; the first match wins. A listener has routes (reverse proxy) or forward.'),
  forward: forwardBlock
    .optional()
    .describe(
      'Make this listener a forward proxy (HTTP_PROXY, CONNECT tunnels) instead of a reverse proxy with routes.',
    ),
  tap: tapLevel().optional().describe("The tap level for this listener's routes; overrides tap.level."),
  rules: ruleRefs().describe(
    'Names of top-level rules for every connection on this listener (routes add their own; on a forward listener they apply to the hosts their match names, in tunnels and intercepted TLS alike).',
  ),
  keepalive: keepalive().optional(),
  relay: relaySettings().optional(),
  tls: listenerTls.optional(),
  proxyProtocol: z
    .union([
      z.boolean(),
      z.strictObject({
        from: z
          .array(cidr())
          .min(1, { error: 'list at least one address or range, or write proxyProtocol: true for every peer' })
          .describe('Peers (the load balancers) that send the header; others connect without one.'),
      }),
    ])
    .optional()
    .describe(
      "Connections start with a PROXY protocol header (v1 or v2) from a layer-4 load balancer (HAProxy send-proxy, AWS NLB, nginx stream proxy_protocol): the client it names becomes the connection's client address in logs, X-Forwarded-For, per-client limits and trustForwarded. true: every connection must start with one; { from: [ranges] }: connections from those peers must, others must not. A connection without a valid header is closed (HTTP gets a 400 saying why). Default: off.",
    ),
  trustForwarded: z
    .array(cidr())
    .optional()
    .describe(
      'Reverse listeners: direct peers (addresses or CIDR ranges, e.g. a load balancer in front of wsgate) whose X-Forwarded-For/-Proto/-Host and Forwarded headers are kept, with wsgate\'s own hop appended (X-Forwarded-For: "client, peer"). From any other peer wsgate removes them and sets its own from what it saw. Default: none, trust no one.',
    ),
});
