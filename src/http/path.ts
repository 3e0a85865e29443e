// The one canonical form of a request path, used both to match routes and to forward. URL parsers in the
// forwarding chain (http-proxy-3, the upstream's framework) normalise a path before they use it; if route matching
// saw the raw path instead, `/public/../admin` would match a `/public` route and arrive upstream as `/admin`.
// RFC 3986 §6.2.2: percent-encoded unreserved characters are decoded, the remaining percent-encodings upper-cased,
// then dot segments are removed (§5.2.4). Encodings that servers read differently (an encoded slash or backslash,
// a raw backslash, an encoded NUL, a broken or doubled percent-encoding, `..;` segments) have no one canonical form:
// they are reported, with the best-effort path beside them so the caller can say which route would have taken it.
// The query is never touched. Pure.

export type PathAmbiguity =
  | 'encoded-slash'
  | 'encoded-backslash'
  | 'backslash'
  | 'encoded-nul'
  | 'invalid-encoding'
  | 'double-encoding'
  | 'dot-segment-parameters';

export type CanonicalPath =
  | { ok: true; path: string }
  /** `path` is the same normalisation with the ambiguous parts left as they are (for matching and messages only). */
  | { ok: false; path: string; ambiguity: PathAmbiguity; detail: string };

const HEX2 = /^[0-9A-Fa-f]{2}$/;
// RFC 3986 §2.3: ALPHA / DIGIT / "-" / "." / "_" / "~".
const UNRESERVED = /^[A-Za-z0-9\-._~]$/;
// `..;x` and `.;x` are dot segments to servers that strip path parameters first (Tomcat, Spring, Jetty).
const DOT_WITH_PARAMETERS = /(^|\/)\.\.?;/;

const WHY: Record<PathAmbiguity, string> = {
  'encoded-slash': 'an encoded slash (%2F) is a separator to some servers and a character to others',
  'encoded-backslash': 'an encoded backslash (%5C) is a separator to some servers',
  backslash: 'a backslash is a separator to some servers (and to URL parsers)',
  'encoded-nul': 'an encoded NUL (%00) ends the path for some servers',
  'invalid-encoding': 'a "%" that does not start a two-digit hex escape is read differently by every server',
  'double-encoding': 'a double percent-encoding (%25 and two hex digits) becomes a different path once decoded again',
  'dot-segment-parameters': 'a ".." or "." segment with parameters (";") is a dot segment to some servers',
};

/** The canonical form of `raw` (a path: no query, starting with "/"), or why it has none. */
export function canonicalPath(raw: string): CanonicalPath {
  let found: { ambiguity: PathAmbiguity; at: string } | undefined;
  const note = (ambiguity: PathAmbiguity, at: string) => {
    found ??= { ambiguity, at };
  };
  let out = '';
  for (let i = 0; i < raw.length; i++) {
    const c = raw[i]!;
    if (c === '\\') note('backslash', c);
    if (c !== '%') {
      out += c;
      continue;
    }
    const hex = raw.slice(i + 1, i + 3);
    if (!HEX2.test(hex)) {
      note('invalid-encoding', raw.slice(i, i + 3));
      out += c;
      continue;
    }
    const code = Number.parseInt(hex, 16);
    const char = String.fromCharCode(code);
    i += 2;
    if (UNRESERVED.test(char)) {
      out += char;
      continue;
    }
    if (code === 0x2f) note('encoded-slash', `%${hex}`);
    else if (code === 0x5c) note('encoded-backslash', `%${hex}`);
    else if (code === 0x00) note('encoded-nul', `%${hex}`);
    else if (code === 0x25 && HEX2.test(raw.slice(i + 1, i + 3)))
      note('double-encoding', `%${hex}${raw.slice(i + 1, i + 3)}`);
    out += `%${hex.toUpperCase()}`;
  }
  const dotParams = DOT_WITH_PARAMETERS.exec(out);
  if (dotParams !== null)
    note(
      'dot-segment-parameters',
      out
        .slice(dotParams.index)
        .split('/')
        .find((s) => s !== '')!,
    );
  const path = removeDotSegments(out);
  if (found === undefined) return { ok: true, path };
  const shown = found.at.length > 20 ? `${found.at.slice(0, 20)}…` : found.at;
  return { ok: false, path, ambiguity: found.ambiguity, detail: `${JSON.stringify(shown)}: ${WHY[found.ambiguity]}` };
}

/** RFC 3986 §5.2.4, as written there: "." and ".." segments resolved, the path never climbing above "/". */
export function removeDotSegments(path: string): string {
  let input = path;
  let output = '';
  const dropLastSegment = () => {
    output = output.slice(0, Math.max(0, output.lastIndexOf('/')));
  };
  while (input.length > 0) {
    if (input.startsWith('../')) input = input.slice(3);
    else if (input.startsWith('./')) input = input.slice(2);
    else if (input.startsWith('/./')) input = input.slice(2);
    else if (input === '/.') input = '/';
    else if (input.startsWith('/../')) {
      input = input.slice(3);
      dropLastSegment();
    } else if (input === '/..') {
      input = '/';
      dropLastSegment();
    } else if (input === '.' || input === '..') input = '';
    else {
      const end = input.indexOf('/', 1);
      const segment = end === -1 ? input : input.slice(0, end);
      output += segment;
      input = input.slice(segment.length);
    }
  }
  return output;
}
