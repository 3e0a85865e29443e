// YAML text → plain value, with every YAML error and warning as a ConfigIssue at its line:col, and a way to
// find the line:col of any key path later (for issues found by ${VAR} substitution and the schema).
// Pure: text in, values out.

import {
  type Document,
  isAlias,
  isCollection,
  isMap,
  isNode,
  isPair,
  isScalar,
  isSeq,
  LineCounter,
  parseDocument,
  visit,
  type YAMLError,
} from 'yaml';
import { type ConfigIssue, formatPath, type PathSegment } from './issues.ts';

export type Position = { line: number; col: number };

export type ParsedConfigText = {
  /** The document as plain JS values; `undefined` when a YAML error made it untrustworthy. */
  value: unknown;
  /** YAML errors and warnings. A document with only warnings still has a `value`. */
  issues: ConfigIssue[];
  /**
   * The position of the value at `path` (or of its key, with `key: true`). A path that does not exist
   * resolves to the nearest existing ancestor, e.g. the mapping a required key is missing from.
   */
  locate(path: readonly PathSegment[], options?: { key?: boolean }): Position;
};

// Aliases are expanded by toJS; a few nested anchors can otherwise expand to billions of nodes ("billion laughs").
export const MAX_ALIAS_COUNT = 100;

function keyOf(key: unknown): string | undefined {
  if (isScalar(key)) return String(key.value);
  return typeof key === 'string' || typeof key === 'number' ? String(key) : undefined;
}

function startOf(node: unknown): number | undefined {
  return isNode(node) && node.range ? node.range[0] : undefined;
}

function endOf(node: unknown): number | undefined {
  return isNode(node) && node.range ? node.range[2] : undefined;
}

/** The key path of the innermost node at `offset`, for YAML errors that only carry an offset. */
function pathAt(doc: Document.Parsed, offset: number): PathSegment[] {
  const path: PathSegment[] = [];
  let node: unknown = doc.contents;
  while (isCollection(node) && node.range && offset <= node.range[2]) {
    let segment: PathSegment | undefined;
    let next: unknown;
    // Items are in source order; the first one ending after the offset holds it. (A start would miss the tag
    // or anchor in front of a value: the node's range begins after its properties.)
    for (const [i, item] of (node.items as unknown[]).entries()) {
      const end = isPair(item) ? (endOf(item.value) ?? endOf(item.key)) : endOf(item);
      if (end === undefined || end <= offset) continue;
      if (isPair(item)) {
        const key = keyOf(item.key);
        if (key === undefined) break;
        segment = key;
        next = item.value;
      } else {
        segment = i;
        next = item;
      }
      break;
    }
    if (segment === undefined) break;
    path.push(segment);
    node = next;
  }
  return path;
}

function firstLine(err: YAMLError): string {
  const line = err.message.split('\n')[0] ?? err.message;
  return line.replace(/ at line \d+, column \d+:?$/, '');
}

export function parseConfigText(text: string, file: string): ParsedConfigText {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: true, uniqueKeys: true, strict: true });
  const issues: ConfigIssue[] = [];
  const at = (offset: number) => lineCounter.linePos(offset);

  const locate = (path: readonly PathSegment[], options: { key?: boolean } = {}): Position => {
    let node: unknown = doc.contents;
    let offset = startOf(node) ?? 0;
    for (let i = 0; i < path.length; i++) {
      if (isAlias(node)) node = node.resolve(doc);
      const seg = path[i];
      let next: unknown;
      if (isMap(node)) {
        const pair = node.items.find((p) => keyOf(p.key) === String(seg));
        if (pair === undefined) break;
        const keyStart = startOf(pair.key);
        if (i === path.length - 1 && options.key && keyStart !== undefined) return at(keyStart);
        next = pair.value;
        // `key:` with nothing after it is an empty scalar at the end of the line; the key is easier to find.
        if (isScalar(next) && next.range && next.range[0] === next.range[1] && keyStart !== undefined) {
          return at(keyStart);
        }
      } else if (isSeq(node) && typeof seg === 'number') {
        next = node.items[seg];
      } else {
        break;
      }
      const start = startOf(next);
      if (start === undefined) break;
      node = next;
      offset = start;
    }
    return at(offset);
  };

  const add = (offset: number, path: readonly PathSegment[], message: string) => {
    const { line, col } = at(offset);
    issues.push({ file, line, col, path: formatPath(path), message });
  };

  for (const err of [...doc.errors, ...doc.warnings]) {
    const offset = err.pos[0];
    const path = pathAt(doc, offset);
    if (err.code === 'DUPLICATE_KEY') {
      add(offset, path, `duplicate key ${JSON.stringify(String(path.at(-1) ?? ''))}: each key may appear only once`);
    } else if (err.code === 'TAG_RESOLVE_FAILED') {
      const tag = text.slice(err.pos[0], err.pos[1]);
      add(offset, path, `unknown tag ${JSON.stringify(tag)}: only YAML's standard tags (such as !!str) are allowed`);
    } else {
      add(offset, path, firstLine(err));
    }
  }

  // A mapping or list used as a key would be stringified by toJS (with a process warning); no config key is one.
  let collectionKey = false;
  visit(doc, {
    Pair(_, pair) {
      if (isCollection(pair.key)) {
        const start = startOf(pair.key) ?? 0;
        add(start, pathAt(doc, start), 'a key must be a plain value, not a list or mapping');
        collectionKey = true;
      }
    },
  });

  if (doc.errors.length > 0 || collectionKey) return { value: undefined, issues, locate };

  try {
    const value: unknown = doc.toJS({ maxAliasCount: MAX_ALIAS_COUNT });
    return { value, issues, locate };
  } catch (err) {
    add(...aliasFailure(doc, err));
    return { value: undefined, issues, locate };
  }

  function aliasFailure(d: Document.Parsed, err: unknown): [number, PathSegment[], string] {
    const message = err instanceof Error ? err.message : String(err);
    const unresolved = /^Unresolved alias.*: (.+)$/.exec(message)?.[1];
    let offset = 0;
    visit(d, {
      Alias(_, node) {
        if (unresolved !== undefined && node.source !== unresolved) return undefined;
        offset = startOf(node) ?? 0;
        return visit.BREAK;
      },
    });
    const path = pathAt(d, offset);
    if (unresolved !== undefined) {
      return [offset, path, `unknown alias "*${unresolved}": the anchor "&${unresolved}" must be defined before it`];
    }
    if (/alias count/i.test(message)) {
      return [
        offset,
        path,
        `aliases expand to too many nodes (more than ${MAX_ALIAS_COUNT}): refusing a possible "billion laughs" document`,
      ];
    }
    return [offset, path, message];
  }
}
