// The one table of wsgate error codes. Every failure a user can meet has a stable code here, a message
// template, a hint, and where it applies the HTTP status or WebSocket close code it maps to.
// Tests assert `code`; logs carry it; the CLI prints message and hint. WebSocket protocol violations (WSG_WS_*)
// live here too, with the RFC rule they come from and whether they are fatal to the frame decoder; they travel as
// values (websocket/violation.ts), never as thrown errors.
// Size: over 400 lines because the table is one object, every code with its texts: one place to read them all.

export type ErrorSpec = {
  readonly message: string;
  readonly hint?: string;
  readonly status?: number;
  readonly closeCode?: number;
  readonly exitCode?: number;
  /** WebSocket protocol violations only: the rule broken, e.g. "RFC 6455 §5.2". */
  readonly rule?: string;
  /**
   * WebSocket protocol violations only: the frame decoder cannot (or, for limits, will not) account for the
   * frame's bytes, so it stops after reporting it. A non-fatal violation is reported and decoding goes on with
   * framing intact (a passthrough tap keeps observing; a terminating relay closes with `closeCode`).
   */
  readonly fatal?: boolean;
  /** Seconds a refused client should wait before it tries again: a Retry-After header on the answer. */
  readonly retryAfter?: number;
};

export const ERRORS = {
  WSG_USAGE: { message: '{detail}', hint: 'Run `wsgate --help` for the commands and options.', exitCode: 2 },
  WSG_CONFIG_INVALID: {
    message: '{detail}',
    hint: 'Fix the listed keys; `wsgate check -c FILE` validates without starting.',
    exitCode: 2,
  },
  WSG_CONFIG_READ: { message: 'cannot read config file {file}: {detail}', exitCode: 2 },
  WSG_CONFIG_TOO_LARGE: { message: 'config file {file} is {size} bytes; the limit is {limit} bytes', exitCode: 2 },
  WSG_LISTEN_FAILED: {
    message: 'cannot listen on {address}: {detail}',
    // The hint for a cause that listenFailed has no advice of its own for.
    hint: 'Check that this machine has the address, that the port is free, and that this user may bind it.',
    exitCode: 1,
  },
  WSG_NO_ROUTE: {
    message: 'no route matches host "{host}" path "{path}"',
    hint: 'Add a route to this listener or check its match keys.',
    status: 404,
  },
  WSG_MISDIRECTED_REQUEST: {
    message:
      'the request is for host "{host}", but this TLS connection was opened for "{servername}", which another certificate serves',
    hint: 'Open a new connection whose TLS server name (SNI) is the host the request is for; a client that reuses one connection for several hosts must not do so across certificates.',
    status: 421,
  },
  WSG_UPSTREAM_REFUSED: { message: 'upstream {upstream} refused the connection', status: 502 },
  WSG_UPSTREAM_DNS: { message: 'upstream host {host} could not be resolved', status: 502 },
  WSG_UPSTREAM_UNREACHABLE: { message: 'upstream {upstream} is unreachable: {detail}', status: 502 },
  WSG_UPSTREAM_TIMEOUT: { message: 'upstream {upstream} did not answer within {timeout}', status: 504 },
  WSG_UPSTREAM_RESET: { message: 'upstream {upstream} closed the connection: {detail}', status: 502 },
  WSG_UPSTREAM_DRAINED: {
    message: 'every server of upstream {upstream} is drained: none takes new connections',
    hint: 'Make one ready again on the admin API: PUT /api/upstreams/NAME/servers/N with {"state":"ready"}.',
    status: 503,
  },
  WSG_UPSTREAM_BAD_RESPONSE: { message: 'upstream {upstream} sent an invalid response: {detail}', status: 502 },
  WSG_UPSTREAM_CERT: {
    message:
      'upstream {upstream} presented a certificate that failed verification: {reason} ({detail}); subject: {subject}; issuer: {issuer}',
    hint: 'If a TLS inspector (a corporate proxy or antivirus) re-signs this connection, the issuer above is its CA: add that CA certificate as the upstream’s tls.ca (reverse routes) or as forward.upstreamCa (forward proxy). Otherwise fix the upstream’s certificate; on a named reverse upstream tls.insecure: true skips the check (logged as a warning).',
    status: 502,
  },
  WSG_ORIGIN_DENIED: {
    message: 'origin "{origin}" is not allowed on this route',
    hint: 'Add the origin to the route’s allowOrigins.',
    status: 403,
  },
  WSG_HANDSHAKE_INVALID: { message: 'invalid WebSocket handshake: {detail}', status: 400 },
  WSG_BAD_REQUEST: { message: 'malformed HTTP request: {detail}', status: 400 },
  WSG_BAD_REQUEST_TARGET: {
    message: 'bad request target "{target}": {detail}',
    hint: 'Send a path ("/…") or, to a proxy, an absolute http(s)/ws(s) URL; URL parsers would reject this one or read it differently.',
    status: 400,
  },
  WSG_AMBIGUOUS_PATH: {
    message: 'ambiguous request path "{path}": {detail}',
    hint: 'Servers read this encoding differently, so a route could be bypassed. If the upstream needs it (e.g. encoded slashes), set rawPath: true on the route to forward paths exactly as received.',
    status: 400,
  },
  WSG_URI_TOO_LONG: { message: 'the request line is longer than {limit} bytes', status: 414 },
  WSG_HEADERS_TOO_LARGE: {
    message: 'the request head is larger than {limit} bytes or has more than {count} header fields',
    hint: 'Raise limits.maxHeaderBytes if the client is legitimate.',
    status: 431,
  },
  WSG_HEADERS_TIMEOUT: {
    message: 'the request head was not complete within {timeout}',
    hint: 'Raise limits.headersTimeout if clients are legitimately this slow.',
    status: 408,
  },
  WSG_BODY_TIMEOUT: {
    message: 'the client sent no request body bytes for {timeout}',
    hint: 'Raise limits.bodyTimeout if clients legitimately pause this long while uploading.',
    status: 408,
  },
  WSG_TOO_MANY_CONNECTIONS: {
    message: 'too many connections {scope}; the limit is {limit}',
    hint: 'Raise limits.maxConnectionsPerClient or limits.maxConnections if this client is legitimate.',
    status: 503,
  },
  // An answer from the admin API says what was wrong itself: no hint for it.
  WSG_ADMIN_CALL: { message: 'the admin API at {url} {detail}', exitCode: 1 },
  WSG_ADMIN_UNREACHABLE: {
    message: 'the admin API at {url} could not be reached ({detail})',
    hint: 'Is wsgate running with an admin listener (inspector.bind, or run --admin)? Give its address with --admin and its token with --token.',
    exitCode: 1,
  },
  WSG_ADMIN_NOT_WSGATE: {
    message: '{url} did not answer like a wsgate admin API: {detail}',
    hint: "Give --admin the address of wsgate's admin listener (inspector.bind, or run --admin), not a proxy listener or another server.",
    exitCode: 1,
  },
  WSG_PROXY_HEADER_INVALID: {
    message: 'the connection from {peer} did not start with a valid PROXY protocol header: {reason}',
    hint: 'This listener has proxyProtocol on: connections from the load balancer must start with the header it writes (HAProxy send-proxy, AWS NLB "proxy protocol v2", nginx stream proxy_protocol on). Turn that on at the balancer, connect through it, or narrow proxyProtocol.from to the balancer\'s addresses.',
    status: 400,
  },
  WSG_PROXY_HEADER_TIMEOUT: {
    message: 'no PROXY protocol header from {peer} within {timeout}',
    hint: 'A load balancer writes the header at once; a client that connects straight to this listener sends none. limits.headersTimeout sets the wait.',
  },
  WSG_HANDSHAKE_RATE: {
    message: 'too many WebSocket handshakes on listener {listener}: the limit is {rate} per second',
    hint: 'Clients retry with backoff; raise limits.maxHandshakesPerSecond if the upstreams can take more.',
    status: 503,
    retryAfter: 1,
  },
  WSG_HANDSHAKE_CLIENT_RATE: {
    message: 'too many WebSocket handshakes from {client}: the limit is {rate} per second per client',
    hint: 'The client reconnects too fast (a reconnect loop without backoff?); limits.maxHandshakesPerClientPerSecond sets the limit.',
    status: 429,
    retryAfter: 1,
  },
  WSG_HANDSHAKE_TIMEOUT: {
    message: 'upstream {upstream} did not complete the WebSocket handshake within {timeout}',
    status: 504,
  },
  // Never sent (there is nobody to answer): it names a failed handshake's record, with nginx's status 499.
  WSG_CLIENT_GONE: { message: 'the client left during the WebSocket handshake, after {ms} ms' },
  WSG_SHUTTING_DOWN: { message: 'wsgate is shutting down', status: 503, closeCode: 1001 },
  WSG_FORWARD_DENIED: {
    message: '{target} is not allowed through this proxy: {reason}',
    hint: 'The forward listener’s allowHosts, denyHosts, allowPorts and destinations decide what clients may reach.',
    status: 403,
  },
  WSG_FORWARD_LOOP: {
    message: 'request loop: {detail}',
    hint: 'wsgate would be sending the request to itself; check HTTP_PROXY/HTTPS_PROXY and the proxies in the config.',
    status: 508,
  },
  WSG_FORWARD_NOT_PROXY: {
    message: 'this is a forward proxy: send "{method} http://host/path" or "CONNECT host:port", not "{target}"',
    hint: 'Point HTTP_PROXY/HTTPS_PROXY or the browser’s proxy setting at this address; reverse routes live on listeners with routes.',
    status: 400,
  },
  WSG_CONNECT_BAD_TARGET: {
    message: 'invalid CONNECT target {target}: {detail}',
    hint: 'CONNECT takes host:port, e.g. "CONNECT example.com:443" or "CONNECT [::1]:8443".',
    status: 400,
  },
  WSG_PROXY_AUTH_REQUIRED: {
    message: 'proxy authentication required: {detail}',
    hint: 'Send Basic credentials of a user in forward.auth.users, e.g. curl --proxy-user NAME:PASSWORD, or HTTPS_PROXY=http://NAME:PASSWORD@host:port.',
    status: 407,
  },
  // A fault a rule asked for (docs/faults.md): the status is the rule's (rejectUpgrade: STATUS, rejectConnect).
  WSG_FAULT_INJECTED: {
    message: '{fault} by rule "{rule}": {detail}',
    hint: 'wsgate refused this on purpose: a rule or a forward.profile in its config injects this fault (docs/faults.md). Remove the rule to get through.',
    status: 503,
  },
  WSG_UPSTREAM_PROXY_REFUSED: {
    message: 'upstream {proxy} refused CONNECT {target}: {detail}',
    hint: 'The upstream proxy comes from proxies[] and via: in the config, else from HTTP_PROXY/HTTPS_PROXY (NO_PROXY lists the exceptions).',
    status: 502,
  },
  WSG_PAC_READ: {
    message: 'proxy {proxy}: cannot read the PAC script {source}: {detail}',
    hint: 'proxies[].pac is a file path or an http(s):// URL wsgate fetches directly (never through a proxy) at start and on reload.',
    exitCode: 2,
  },
  WSG_PAC_INVALID: {
    message: 'proxy {proxy}: the PAC script {source} is not usable: {detail}',
    hint: 'A PAC script is JavaScript defining FindProxyForURL(url, host); try it with `wsgate probe URL --pac FILE`.',
    exitCode: 2,
  },
  WSG_TLS_CERT_READ: {
    message: 'cannot use {what} {file}: {detail}',
    hint: 'Certificates and keys are PEM files; a private key must not be encrypted.',
    exitCode: 2,
  },
  WSG_TLS_FILES: {
    message: '{count} TLS files cannot be used:\n{detail}',
    hint: 'Certificates and keys are PEM files; a private key must not be encrypted.',
    exitCode: 2,
  },
  WSG_TLS_KEY_MISMATCH: {
    message: 'the private key in {key} does not belong to the certificate in {cert}',
    hint: 'Pair each certificate with the key it was issued for: `openssl x509 -noout -pubkey -in CERT` and `openssl pkey -pubout -in KEY` must print the same key.',
    exitCode: 2,
  },
  WSG_TLS_HANDSHAKE: { message: 'TLS handshake with {peer} failed: {detail}' },
  WSG_CA_EXISTS: {
    message: 'a CA already exists in {dir}',
    hint: 'Keep it, or replace it with `wsgate ca init --force` (clients that trust the old CA must then trust the new one).',
    exitCode: 2,
  },
  WSG_CA_MISSING: {
    message: 'no CA in {dir} ({file} does not exist)',
    hint: 'Create one with `wsgate ca init` (add --dir DIR for another place).',
    exitCode: 2,
  },
  WSG_CA_INVALID: { message: 'CA file {file}: {detail}', exitCode: 2 },
  WSG_CA_WRITE: { message: 'cannot write the CA to {dir}: {detail}', exitCode: 2 },
  WSG_LOG_FILE: {
    message: 'cannot write the log file {file}: {detail}',
    hint: "Point log.file / log.traffic at a directory wsgate's user may write to.",
    exitCode: 2,
  },
  // WebSocket protocol violations, as the frame decoder and the message assembler report them.
  WSG_WS_UNMASKED_FRAME: {
    message: 'a frame from the client is not masked',
    rule: 'RFC 6455 §5.1',
    closeCode: 1002,
    fatal: false,
  },
  WSG_WS_MASKED_FRAME: {
    message: 'a frame from the server is masked',
    rule: 'RFC 6455 §5.1',
    closeCode: 1002,
    fatal: false,
  },
  WSG_WS_RESERVED_OPCODE: { message: 'reserved opcode {opcode}', rule: 'RFC 6455 §5.2', closeCode: 1002, fatal: false },
  WSG_WS_UNEXPECTED_RSV1: { message: 'RSV1 is set {where}', rule: 'RFC 6455 §5.2', closeCode: 1002, fatal: false },
  WSG_WS_UNEXPECTED_RSV2_RSV3: {
    message: 'RSV2 or RSV3 is set but no extension defines them',
    rule: 'RFC 6455 §5.2',
    closeCode: 1002,
    fatal: false,
  },
  WSG_WS_CONTROL_TOO_LONG: {
    message: 'control frame payload is {length} bytes; at most 125 are allowed',
    rule: 'RFC 6455 §5.5',
    closeCode: 1002,
    fatal: false,
  },
  WSG_WS_CONTROL_FRAGMENTED: {
    message: 'control frame (opcode {opcode}) has FIN clear; control frames must not be fragmented',
    rule: 'RFC 6455 §5.5',
    closeCode: 1002,
    fatal: false,
  },
  WSG_WS_UNEXPECTED_CONTINUATION: {
    message: 'continuation frame without a started message',
    rule: 'RFC 6455 §5.4',
    closeCode: 1002,
    fatal: false,
  },
  WSG_WS_EXPECTED_CONTINUATION: {
    message: 'new data frame (opcode {opcode}) while a fragmented message is still open',
    rule: 'RFC 6455 §5.4',
    closeCode: 1002,
    fatal: false,
  },
  WSG_WS_CLOSE_ONE_BYTE: {
    message: 'close frame body is 1 byte; a status code needs 2',
    rule: 'RFC 6455 §5.5.1',
    closeCode: 1002,
    fatal: false,
  },
  WSG_WS_INVALID_CLOSE_CODE: {
    message: 'close code {code} may not be sent on the wire',
    rule: 'RFC 6455 §7.4',
    closeCode: 1002,
    fatal: false,
  },
  WSG_WS_INVALID_CLOSE_REASON: {
    message: 'close reason is not valid UTF-8',
    rule: 'RFC 6455 §5.5.1',
    closeCode: 1007,
    fatal: false,
  },
  WSG_WS_INVALID_UTF8: {
    message: 'text message is not valid UTF-8',
    rule: 'RFC 6455 §8.1',
    closeCode: 1007,
    fatal: false,
  },
  // ws answers 1009 for both unrepresentable lengths, and the conformance suite expects ws's answer; §5.2 alone
  // would make the first one a plain protocol error (1002).
  WSG_WS_LENGTH_MSB_SET: {
    message: 'the most significant bit of the 64-bit payload length is set',
    rule: 'RFC 6455 §5.2',
    closeCode: 1009,
    fatal: true,
  },
  WSG_WS_LENGTH_UNSUPPORTED: {
    message: 'payload length {length} is above 2^53 - 1',
    rule: 'RFC 6455 §10.4',
    closeCode: 1009,
    fatal: true,
  },
  WSG_WS_FRAME_TOO_LARGE: {
    message: 'frame payload is {length} bytes; the limit is {limit}',
    rule: 'RFC 6455 §10.4',
    closeCode: 1009,
    fatal: true,
  },
  WSG_WS_MESSAGE_TOO_LARGE: {
    message: 'message reached {length} bytes; the limit is {limit}',
    rule: 'RFC 6455 §10.4',
    closeCode: 1009,
    fatal: true,
  },
  WSG_WS_TOO_MANY_FRAGMENTS: {
    message: 'message has more than {limit} fragments',
    rule: 'RFC 6455 §10.4',
    closeCode: 1008,
    fatal: true,
  },
  // Found by the tap, not the decoder: it needs both directions (RFC 6455 §5.5.3 lets one pong answer every ping
  // before it, so a pong resets the count). Framing stays intact, so it is not fatal.
  WSG_WS_TOO_MANY_PENDING_PINGS: {
    message: 'more than {limit} pings are waiting for a pong from the other side',
    rule: 'RFC 6455 §10.4',
    closeCode: 1008,
    fatal: false,
  },
  // Found by the relay (rules), which inflates permessage-deflate messages to rewrite them (relay: deflate keep).
  WSG_RELAY_INFLATE_FAILED: {
    message: 'a compressed message cannot be inflated: {detail}',
    hint: 'The sender broke its permessage-deflate stream (RFC 7692 §7.2); the relay closes with 1007 as ws does.',
    closeCode: 1007,
  },
  WSG_ADMIN_HOST: {
    message: 'Host "{host}" is not a name of this admin listener',
    hint: 'Call the admin API by its own address (127.0.0.1:PORT, localhost:PORT or the bind address): other names are refused so that a DNS-rebinding page cannot reach it.',
    status: 403,
  },
  WSG_ADMIN_TOKEN: {
    message: '{detail}',
    hint: 'Send the inspector.token in an `Authorization: Bearer TOKEN` or `X-Wsgate-Token: TOKEN` header.',
    status: 401,
  },
  WSG_ADMIN_ORIGIN: {
    message: 'cross-origin call refused: Origin {origin} is not this admin listener',
    hint: 'Mutating admin calls are accepted only from the admin listener’s own origin or from clients that send no Origin (curl, scripts).',
    status: 403,
  },
  WSG_ADMIN_CONTENT_TYPE: {
    message: 'a mutating admin call needs Content-Type: application/json',
    hint: 'curl -H "Content-Type: application/json" -d \'{…}\'',
    status: 415,
  },
  WSG_ADMIN_BAD_REQUEST: { message: '{detail}', status: 400 },
  WSG_ADMIN_BODY_TOO_LARGE: {
    message: 'the request body is larger than the admin API takes ({limit})',
    hint: 'Admin calls take small JSON objects; send a large message in parts, or keep it under the limit.',
    status: 413,
  },
  WSG_ADMIN_NOT_FOUND: { message: '{detail}', status: 404 },
  WSG_ADMIN_METHOD_NOT_ALLOWED: { message: '{method} is not allowed on {path}; it takes {allow}', status: 405 },
  WSG_ADMIN_CONFLICT: { message: '{detail}', status: 409 },
  WSG_INTERNAL: { message: 'internal error: {detail}', status: 500, exitCode: 1 },
} as const satisfies Record<string, ErrorSpec>;

export type ErrorCode = keyof typeof ERRORS;

export type ErrorParams = Record<string, string | number>;

function fill(template: string, params: ErrorParams): string {
  return template.replace(/\{(\w+)\}/g, (all, key: string) => (key in params ? String(params[key]) : all));
}

/** The message of `code` with its template filled, for codes reported as values rather than thrown. */
export function formatMessage(code: ErrorCode, params: ErrorParams = {}): string {
  return fill(ERRORS[code].message, params);
}

/** The only error class in wsgate: a code from the table plus the values that filled its template. */
export class WsgateError extends Error {
  readonly code: ErrorCode;
  readonly hint: string | undefined;
  readonly status: number | undefined;
  readonly closeCode: number | undefined;
  readonly exitCode: number;
  readonly retryAfter: number | undefined;
  readonly params: ErrorParams;
  /** Structured details, e.g. every config issue with its file:line:col. */
  readonly details: readonly unknown[];

  constructor(
    code: ErrorCode,
    params: ErrorParams = {},
    options: {
      cause?: unknown;
      details?: readonly unknown[];
      status?: number;
      at?: string | undefined;
      /** A hint fitted to this failure (its cause, the command the user ran), instead of the table's. */
      hint?: string | undefined;
    } = {},
  ) {
    const spec: ErrorSpec = ERRORS[code];
    // `at` is where in a config the failing value was named ("wsgate.yaml:4:7 listeners[0].tls"), as config issues say.
    const message = fill(spec.message, params);
    super(
      options.at === undefined ? message : `${options.at}: ${message}`,
      options.cause === undefined ? undefined : { cause: options.cause },
    );
    this.name = 'WsgateError';
    this.code = code;
    this.hint = options.hint ?? spec.hint;
    // A status passed in wins: an upstream proxy's 407 or 503 is relayed as it was given.
    this.status = options.status ?? spec.status;
    this.closeCode = spec.closeCode;
    this.exitCode = spec.exitCode ?? 1;
    this.retryAfter = spec.retryAfter;
    this.params = params;
    this.details = options.details ?? [];
  }
}

/** The same error, its message led by where in a config the failing value was named; other errors as they are. */
export function placedError(err: unknown, at: string | undefined): unknown {
  if (!(err instanceof WsgateError) || at === undefined) return err;
  return new WsgateError(err.code, err.params, {
    cause: err.cause,
    details: err.details,
    status: err.status,
    at,
    hint: err.hint,
  });
}

// EACCES and EPERM: below 1024 it is the privileged range; above it, a policy of the system's.
const privilegedPort = (_host: string, port: number): string =>
  port < 1024
    ? 'Ports below 1024 need privileges: choose a port from 1024 up, or allow it without running as root (docs/tls.md, "Listening on 443").'
    : `The system does not let this user bind port ${port} (a security policy such as SELinux or AppArmor, or a container's): choose another port, or allow it there.`;

/**
 * Advice for each way a bind fails, as the kernel or the resolver says it. One fixed hint read wrong in most of
 * them: "another process may hold the port" for a host name that does not resolve sends people hunting for a
 * process that is not there.
 */
const LISTEN_HINTS: Readonly<Record<string, (host: string, port: number) => string>> = {
  EADDRINUSE: (_host, port) =>
    `Another process holds port ${port} here (\`ss -ltnp 'sport = :${port}'\` or \`lsof -nP -iTCP:${port} -sTCP:LISTEN\` names it): stop it, or choose another port.`,
  EADDRNOTAVAIL: (host) =>
    `No network interface of this machine has the address ${host}: bind one it has (\`ip -brief address\` lists them), 127.0.0.1 for this machine alone, or 0.0.0.0 or :: for every interface.`,
  EACCES: privilegedPort,
  EPERM: privilegedPort,
  ENOTFOUND: (host) =>
    `The host name ${host} does not resolve here: bind an IP address (127.0.0.1 for this machine alone, 0.0.0.0 or :: for every interface) or a name this machine resolves, such as localhost.`,
  EAI_AGAIN: (host) =>
    `No name server answered for ${host}: bind an IP address (127.0.0.1, 0.0.0.0, ::), so that starting does not depend on DNS.`,
};

/** WSG_LISTEN_FAILED for a bind that failed: the cause's code as the detail, and the hint for that cause. */
export function listenFailed(
  bind: { host: string; port: number; address: string },
  err: NodeJS.ErrnoException,
): WsgateError {
  const advice = err.code === undefined ? undefined : LISTEN_HINTS[err.code];
  return new WsgateError(
    'WSG_LISTEN_FAILED',
    { address: bind.address, detail: err.code ?? err.message },
    { cause: err, hint: advice?.(bind.host, bind.port) },
  );
}

/** Whether `arg` reads as itself to a POSIX shell, so a hint can print it in a command to paste as it is. */
export function isPlainShellWord(arg: string): boolean {
  return /^[\w@%+=:,./~-]+$/.test(arg);
}

/** `arg` as a shell word: as it is when plain, else single-quoted. Hints print commands to paste. */
export function shellWord(arg: string): string {
  return isPlainShellWord(arg) ? arg : `'${arg.replaceAll("'", `'\\''`)}'`;
}

export function isWsgateError(err: unknown): err is WsgateError {
  return err instanceof WsgateError;
}
