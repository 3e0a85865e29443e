// How wsgate keeps its own connections to upstreams alive between plain requests (every http.Agent it makes).
// A kept-alive connection that the server closes just as wsgate sends the next request on it is the classic proxy
// 502 (upstream/http-retry.ts sends such a request again where that is safe). Closing idle connections first makes
// the race rare: 4 s is below the shortest common server keep-alive (Node's 5 s, Apache's 5 s; nginx 75 s) and is
// undici's default too. A server that announces a shorter one (Keep-Alive: timeout=N) is heeded by Node's agent.
// Pure.

/** http.Agent / https.Agent options for pooled upstream connections. */
export const UPSTREAM_AGENT_OPTIONS = { keepAlive: true, maxFreeSockets: 64, timeout: 4000 } as const;
