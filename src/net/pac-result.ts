// The grammar around PAC scripts, shared by `wsgate probe --pac` and wsgate's own PAC proxies (proxies[].pac):
// reading a FindProxyForURL answer ("PROXY a:3128; HTTPS b:443; DIRECT") into entries in order, and the URL a
// script is asked about (ws and wss as http and https, as Chromium passes them). Pure.

export type PacEntry = { kind: 'direct' } | { kind: 'proxy'; scheme: 'http' | 'https'; hostPort: string; text: string };

export type PacParse = { entries: PacEntry[]; skipped: string[] };

/**
 * A FindProxyForURL result: "PROXY a:3128; HTTPS b:443; DIRECT". SOCKS entries are skipped (wsgate speaks HTTP
 * proxies only) and listed so the caller can say so.
 */
export function parsePacResult(result: string): PacParse {
  const entries: PacEntry[] = [];
  const skipped: string[] = [];
  for (const raw of result.split(';')) {
    const text = raw.trim();
    if (text === '') continue;
    const [type = '', hostPort = ''] = text.split(/\s+/);
    const kind = type.toUpperCase();
    if (kind === 'DIRECT') entries.push({ kind: 'direct' });
    else if ((kind === 'PROXY' || kind === 'HTTP') && hostPort !== '')
      entries.push({ kind: 'proxy', scheme: 'http', hostPort, text });
    else if (kind === 'HTTPS' && hostPort !== '') entries.push({ kind: 'proxy', scheme: 'https', hostPort, text });
    else skipped.push(text);
  }
  return { entries, skipped };
}

/** The URL a PAC script is asked about: ws → http, wss → https (Chromium does the same). */
export function pacUrlFor(url: URL): string {
  const copy = new URL(url.href);
  const scheme = url.protocol === 'wss:' ? 'https:' : 'http:';
  return `${scheme}${copy.href.slice(copy.protocol.length)}`;
}
