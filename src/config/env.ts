// ${VAR} substitution. It runs on parsed YAML values, not on the text, so a variable can never inject YAML
// structure and every issue keeps the line:col of the value it came from. Pure: the environment is a parameter.
//
//   ${VAR}           the variable's value; an error when it is not set
//   ${VAR:-default}  the default when the variable is unset or empty (as in POSIX sh)
//   $${              a literal "${"

import type { PathSegment } from './issues.ts';

export type Env = Readonly<Record<string, string | undefined>>;

export type EnvIssue = { path: PathSegment[]; message: string };

export type ExpandResult = { ok: true; value: string } | { ok: false; messages: string[] };

const NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** Expands the references in one string. */
export function expandEnv(text: string, env: Env): ExpandResult {
  if (!text.includes('${')) return { ok: true, value: text };
  const messages: string[] = [];
  let out = '';
  let i = 0;
  while (i < text.length) {
    if (text.startsWith('$${', i)) {
      out += '${';
      i += 3;
      continue;
    }
    if (!text.startsWith('${', i)) {
      out += text[i];
      i += 1;
      continue;
    }
    const end = text.indexOf('}', i + 2);
    if (end === -1) {
      messages.push(`unterminated "\${" in ${JSON.stringify(text)} (write "$\${" for a literal "\${")`);
      break;
    }
    const body = text.slice(i + 2, end);
    const sep = body.indexOf(':-');
    const name = sep === -1 ? body : body.slice(0, sep);
    const fallback = sep === -1 ? undefined : body.slice(sep + 2);
    i = end + 1;
    if (!NAME.test(name)) {
      messages.push(
        `invalid variable reference ${JSON.stringify(`\${${body}}`)}: a name is letters, digits and _ (write "$\${" for a literal "\${")`,
      );
      continue;
    }
    if (fallback?.includes('${')) {
      messages.push(`nested references are not supported in the default of ${JSON.stringify(`\${${body}}`)}`);
      continue;
    }
    const value = env[name];
    if (fallback !== undefined) out += value === undefined || value === '' ? fallback : value;
    else if (value === undefined) messages.push(`environment variable ${name} is not set`);
    else out += value;
  }
  return messages.length > 0 ? { ok: false, messages } : { ok: true, value: out };
}

/**
 * Expands every string scalar in a parsed value (mapping keys are left alone) and returns a new value.
 * Strings with problems are left as written; each problem is an issue at that value's path.
 */
export function substituteEnv(value: unknown, env: Env): { value: unknown; issues: EnvIssue[] } {
  const issues: EnvIssue[] = [];
  const walk = (v: unknown, path: PathSegment[]): unknown => {
    if (typeof v === 'string') {
      const r = expandEnv(v, env);
      if (r.ok) return r.value;
      for (const message of r.messages) issues.push({ path, message });
      return v;
    }
    if (Array.isArray(v)) return v.map((item, i) => walk(item, [...path, i]));
    if (v !== null && typeof v === 'object') {
      // fromEntries defines own properties, so a "__proto__" key stays a key instead of replacing the prototype.
      return Object.fromEntries(Object.entries(v).map(([k, item]) => [k, walk(item, [...path, k])]));
    }
    return v;
  };
  return { value: walk(value, []), issues };
}
