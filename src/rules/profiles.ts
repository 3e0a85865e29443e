// Fault profiles: named bundles of rules that make a wsgate forward listener behave like a proxy people meet on
// real networks (`forward: { profile: squid-default }`), so a client can be tested against that proxy without one.
// Plain data in the same shape as the config's `rules:` entries: the config layer checks a profile name against
// PROFILES, and the rules engine compiles a profile's rules like any others (names are "<profile>/<what>", so the
// traffic log and the end line say which part of the profile acted). docs/faults.md documents each profile with the
// product behaviour it imitates and where that behaviour is documented.
//
// Action forms used here beyond the plain ones (rules/types.ts HandshakeFaults): `stripUpgrade: { inTunnels: false }`
// and `rejectConnect: { status, exceptPorts }`.

/** One rule as the config writes it: a name, an optional match (none: every connection), and its actions. */
export type ProfileRule = {
  readonly name: string;
  readonly match?: Readonly<Record<string, unknown>>;
  readonly actions: readonly Readonly<Record<string, unknown>>[];
};

export type FaultProfile = {
  /** What the profile does, in one sentence (wsgate check and the JSON schema show it). */
  readonly description: string;
  /** The product and setting it imitates, for people choosing one. */
  readonly imitates: string;
  readonly rules: readonly ProfileRule[];
};

export const PROFILES: Readonly<Record<string, FaultProfile>> = {
  'squid-default': {
    description:
      'Drops Upgrade from plain-HTTP (absolute-form ws://) handshakes so the upstream answers a plain GET, allows CONNECT only to port 443 (403 otherwise), and adds no Via inside tunnels.',
    imitates:
      'Squid 5 with its shipped squid.conf: http_upgrade_request_protocols unset (the Upgrade header is dropped), `acl SSL_ports port 443` with `http_access deny CONNECT !SSL_ports`; CONNECT tunnels are spliced blindly.',
    rules: [
      { name: 'squid-default/upgrade-dropped', actions: [{ stripUpgrade: { inTunnels: false } }] },
      { name: 'squid-default/ssl-ports', actions: [{ rejectConnect: { status: 403, exceptPorts: [443] } }] },
    ],
  },
  'auth-407': {
    description:
      'Answers every CONNECT and absolute-form request with 407 Proxy Authentication Required and Proxy-Authenticate: Basic realm="wsgate".',
    imitates:
      'An authenticating corporate proxy (Squid with auth_param basic, or any proxy behind Basic/NTLM/Negotiate) seen by a client that has no credentials.',
    rules: [{ name: 'auth-407/proxy-auth', actions: [{ rejectConnect: 407 }] }],
  },
  'ssl-inspect': {
    description:
      'Intercepts every CONNECT to a TLS server with a certificate signed by a CA made for this process that nobody trusts.',
    imitates:
      'A TLS-inspecting middlebox (Squid ssl_bump, Zscaler, Palo Alto decryption, antivirus web shields) whose CA was not installed on this client.',
    rules: [{ name: 'ssl-inspect/resign', actions: [{ untrustedCert: true }] }],
  },
  'idle-cut-60s': {
    description:
      'Closes both TCP connections (FIN, no WebSocket Close frame) after 60 s without a byte either way: the client sees 1006.',
    imitates:
      'nginx proxying WebSockets with its default proxy_read_timeout 60s (and load balancers with a 60 s idle timeout, e.g. AWS ALB).',
    rules: [{ name: 'idle-cut-60s/idle', actions: [{ idleCut: '60s' }] }],
  },
  'buffering-proxy': {
    description:
      'Holds the bytes of every connection and releases them in bursts once a second, so messages arrive late and in clumps.',
    imitates:
      'Content-scanning proxies and antivirus web shields that buffer traffic before passing it on, breaking real-time delivery without closing anything.',
    rules: [{ name: 'buffering-proxy/burst', actions: [{ buffer: '1s' }] }],
  },
  'strip-extensions': {
    description: 'Removes Sec-WebSocket-Extensions from every handshake, so permessage-deflate is never negotiated.',
    imitates:
      'Middleboxes that re-originate the handshake and drop headers they do not know (some TLS inspectors and security gateways): the connection works but uncompressed.',
    rules: [{ name: 'strip-extensions/no-deflate', actions: [{ stripExtensions: true }] }],
  },
};

/** The profile names, for did-you-mean and the JSON schema's enum. */
export const PROFILE_NAMES: readonly string[] = Object.keys(PROFILES);
