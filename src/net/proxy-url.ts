// Upstream proxy URLs as config and the environment write them (HTTPS_PROXY=http://user:pw@proxy:3128): checked,
// with credentials turned into the Proxy-Authorization value for that proxy and left out of the URL kept for logs.
// Pure: config validates `proxies[].url` with this, and upstream/ builds its proxies from the result.
import { unbracketedIpv6Message } from './host-port.ts';
import { redactUserinfo } from './url-credentials.ts';

export type ProxyUrlResult = { ok: true; url: URL; authorization: string | undefined } | { ok: false; message: string };

/** Parses a proxy URL. "host:port" without a scheme means http://, as curl reads it. */
export function parseProxyUrl(text: string): ProxyUrlResult {
  const trimmed = text.trim();
  if (trimmed === '') return { ok: false, message: 'the proxy URL is empty' };
  const withScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(trimmed) ? trimmed : `http://${trimmed}`;
  const url = URL.parse(withScheme);
  if (url === null || url.hostname === '') {
    const ipv6 = unbracketedIpv6Message(withScheme);
    const detail = ipv6 === undefined ? '' : `: ${ipv6}`;
    return { ok: false, message: `invalid proxy URL ${JSON.stringify(redactUserinfo(trimmed))}${detail}` };
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    return {
      ok: false,
      message: `${url.protocol}// proxies are not supported (${redactUserinfo(trimmed)}): use an http:// or https:// proxy`,
    };
  }
  if ((url.pathname !== '/' && url.pathname !== '') || url.search !== '' || url.hash !== '') {
    return { ok: false, message: `a proxy URL has no path, query or fragment: ${redactUserinfo(trimmed)}` };
  }
  let authorization: string | undefined;
  if (url.username !== '' || url.password !== '') {
    let user: string;
    let password: string;
    try {
      user = decodeURIComponent(url.username);
      password = decodeURIComponent(url.password);
    } catch {
      return { ok: false, message: `the user or password in proxy URL ${redactUserinfo(trimmed)} is badly escaped` };
    }
    authorization = `Basic ${Buffer.from(`${user}:${password}`, 'utf8').toString('base64')}`;
  }
  const bare = new URL(url.origin);
  return { ok: true, url: bare, authorization };
}
