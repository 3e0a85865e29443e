// The shape every config problem is reported in, whether it comes from YAML, ${VAR} substitution or the
// schema, and the one way it is printed: `file:line:col path: message`, like a compiler.

export type PathSegment = string | number;

/** One problem in a config. `line` and `col` are 1-based; both are 0 when there is no source text. */
export type ConfigIssue = { file: string; line: number; col: number; path: string; message: string };

const IDENTIFIER = /^[A-Za-z_$][\w$]*$/;

/** `['listeners', 0, 'routes', 1, 'upstream']` → `listeners[0].routes[1].upstream`. */
export function formatPath(path: readonly PathSegment[]): string {
  let out = '';
  for (const seg of path) {
    if (typeof seg === 'number') out += `[${seg}]`;
    else if (IDENTIFIER.test(seg)) out += out === '' ? seg : `.${seg}`;
    else out += `[${JSON.stringify(seg)}]`;
  }
  return out;
}

/** `config/wsgate.yaml:12:7 listeners[0].routes[1].upstream: expected a ws://, … URL`. */
export function formatConfigIssue(issue: ConfigIssue): string {
  const where = issue.line > 0 ? `${issue.file}:${issue.line}:${issue.col}` : issue.file;
  return issue.path === '' ? `${where} ${issue.message}` : `${where} ${issue.path}: ${issue.message}`;
}
