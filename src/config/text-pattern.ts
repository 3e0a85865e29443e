// Text patterns as rules write them: "/regex/flags" is a regular expression, any other string a plain substring.
// Validated here so a bad regex is a config error with its position; rules/ compiles the same parts. Pure.

export type TextPattern = { kind: 'regex'; source: string; flags: string } | { kind: 'substring'; text: string };

export type TextPatternResult = ({ ok: true } & TextPattern) | { ok: false; message: string };

/**
 * `"/ty(p)ing/i"` → a regex, `"typing"` → a substring. Matchers refuse the g and y flags (they make test() keep
 * state between messages); replace allows g (every match) but not y.
 */
export function parseTextPattern(value: string, options: { allowGlobal?: boolean } = {}): TextPatternResult {
  const m = /^\/(.+)\/([a-z]*)$/s.exec(value);
  if (m === null) return { ok: true, kind: 'substring', text: value };
  const source = m[1]!;
  const flags = m[2]!;
  if (flags.includes('y') || (!options.allowGlobal && flags.includes('g'))) {
    return {
      ok: false,
      message: options.allowGlobal
        ? 'regex flag "y" is not allowed here'
        : 'regex flags "g" and "y" are not allowed in a matcher (they make matching stateful)',
    };
  }
  try {
    new RegExp(source, flags);
  } catch (err) {
    // V8 says "Invalid regular expression: /(/: Unterminated group"; keep only the reason.
    const reason = (err as Error).message.replace(/^Invalid regular expression: \/.*\/[a-z]*: /s, '');
    return { ok: false, message: `invalid regular expression ${JSON.stringify(value)}: ${reason}` };
  }
  return { ok: true, kind: 'regex', source, flags };
}
