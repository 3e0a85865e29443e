// The layering of src/ kept by a test (issue 10; the order is docs/architecture.md's and shared/design.md's "What
// main taught"). It reads every src/**/*.ts file's import and export-from statements — value and type imports
// alike, multi-line ones too, and import() — and checks: no cycle between folders; every import goes to the same
// folder or one of lower or equal rank in LAYERS (a folder missing from the table fails until it is added);
// nothing imports cli/; config/ reaches only the root, http/, net/ and itself; pure modules reach no sockets, no
// file system and no timers; no file is over 400 lines unless its header says why.
//
// The scanner is a few regular expressions over Biome-formatted source, not a TypeScript parser: statements start a
// line, so comment lines (`//`, ` *`) and strings never look like imports. Its own test below keeps it honest.
//
// One judgement call: in pure modules a type-only import of a Node built-in (`import type http from 'node:http'`
// for IncomingHttpHeaders) is allowed, since it is erased and reaches no I/O; type imports of socket-owning
// folders are not, since they tie the pure core to the edge.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const SRC = resolve(dirname(fileURLToPath(import.meta.url)), '../../src');

/** Layer ranks, bottom to top: a folder may import its own files and folders of lower or equal rank. */
const LAYERS: Readonly<Record<string, number>> = {
  root: 0, // src/errors.ts, src/events.ts
  http: 1,
  net: 1,
  log: 2,
  config: 3,
  rules: 4, // websocket's pure core belongs here too, but shares the websocket folder
  tls: 5,
  upstream: 5,
  websocket: 6,
  traffic: 7,
  echo: 7,
  front: 8,
  reverse: 9,
  forward: 9,
  inspector: 10,
  probe: 10,
  app: 11,
  cli: 12,
};

/** The only files directly under src/ (the root layer). */
const ROOT_FILES = ['errors.ts', 'events.ts'];

/**
 * Pure modules: no sockets, file system or timers, and nothing from a socket-owning folder. Folders end in "/";
 * names that do not exist (yet, or any more: the codec is being split) are ignored.
 */
const PURE = {
  include: [
    'http/',
    'net/',
    'rules/',
    'config/',
    'reverse/match.ts',
    'forward/policy.ts',
    'forward/target.ts',
    'forward/sniff.ts',
    'forward/auth.ts',
    'forward/headers.ts',
    'front/admission.ts',
    'websocket/handshake.ts',
    'websocket/utf8.ts',
    'websocket/close.ts',
    'websocket/message.ts',
    'websocket/codec.ts',
    'websocket/frame.ts',
    'websocket/mask.ts',
    'websocket/decoder.ts',
    'websocket/encoder.ts',
    'probe/report.ts',
    'probe/judge.ts',
    'probe/judge-tls.ts',
    'probe/compare.ts',
    'probe/render.ts',
  ],
  exclude: ['config/load.ts', 'config/watch.ts'],
};

/** Node built-ins a pure module must not import (checked with and without the node: prefix). */
const IO_BUILTINS = new Set([
  'net',
  'tls',
  'http',
  'https',
  'http2',
  'fs',
  'fs/promises',
  'dgram',
  'dns',
  'dns/promises',
  'child_process',
  'cluster',
  'timers',
  'timers/promises',
]);

/** Modules that own sockets (or processes): a pure module imports none of them, not even for types. */
function isSocketOwning(file: string): boolean {
  const [folder, name = ''] = file.split('/');
  if (folder === 'front' || folder === 'upstream' || folder === 'app' || folder === 'cli') return true;
  if (file === 'reverse/listener.ts') return true;
  if (folder === 'forward' && name.includes('listener')) return true;
  // The TLS edge: everything in tls/ except the pure name, error and certificate helpers.
  if (folder === 'tls') return !['names.ts', 'cert-error.ts', 'x509.ts'].includes(name);
  return false;
}

/** config/ may import only these folders (and Node built-ins and packages). */
const CONFIG_MAY_IMPORT = new Set(['root', 'http', 'net', 'config']);
/** The only config/ files that may touch the file system. */
const CONFIG_FS_FILES = new Set(['config/load.ts', 'config/watch.ts']);
const FS_BUILTINS = new Set(['fs', 'fs/promises', 'path']);

const MAX_LINES = 400;

// ---------------------------------------------------------------- the scanner

export type ImportRef = {
  /** The module specifier as written. */
  spec: string;
  /** Only types come through it (erased at run time). */
  typeOnly: boolean;
  /** 1-based line of the statement. */
  line: number;
};

const STATIC_IMPORT = /^import\s+(type\s+)?([\w$*{},\s]*?)\s*from\s*(['"])([^'"]+)\3/gm;
const SIDE_EFFECT_IMPORT = /^import\s*(['"])([^'"]+)\1/gm;
const EXPORT_FROM = /^export\s+(type\s+)?(\*(?:\s+as\s+[\w$]+)?|\{[\w$,\s]*\})\s*from\s*(['"])([^'"]+)\3/gm;
const IMPORT_CALL = /\bimport\s*\(\s*(['"])([^'"]+)\1\s*\)(\s*\.\s*[\w$]+)?/g;

function lineOf(text: string, index: number): number {
  let line = 1;
  for (let i = 0; i < index; i += 1) if (text.charCodeAt(i) === 10) line += 1;
  return line;
}

/** `{ type A, type B }`: every named binding is type-only. */
function allNamedTypeOnly(clause: string): boolean {
  const named = /^\{([\s\S]*)\}$/.exec(clause.trim());
  if (!named) return false;
  const parts = named[1]!
    .split(',')
    .map((p) => p.trim())
    .filter((p) => p !== '');
  return parts.length > 0 && parts.every((p) => /^type\s/.test(p));
}

/** Every import, export-from and import() in a module's text. */
export function scanImports(text: string): ImportRef[] {
  const refs: ImportRef[] = [];
  for (const m of text.matchAll(STATIC_IMPORT)) {
    refs.push({ spec: m[4]!, typeOnly: m[1] !== undefined || allNamedTypeOnly(m[2]!), line: lineOf(text, m.index) });
  }
  for (const m of text.matchAll(SIDE_EFFECT_IMPORT)) {
    refs.push({ spec: m[2]!, typeOnly: false, line: lineOf(text, m.index) });
  }
  for (const m of text.matchAll(EXPORT_FROM)) {
    refs.push({ spec: m[4]!, typeOnly: m[1] !== undefined || allNamedTypeOnly(m[2]!), line: lineOf(text, m.index) });
  }
  for (const m of text.matchAll(IMPORT_CALL)) {
    // `import('node:http').IncomingMessage` in a type position names a type; `import(x).then(…)` loads a module.
    const member = m[3]?.replace(/[\s.]/g, '');
    const typeOnly = member !== undefined && !['then', 'catch', 'finally'].includes(member);
    refs.push({ spec: m[2]!, typeOnly, line: lineOf(text, m.index) });
  }
  return refs.sort((a, b) => a.line - b.line);
}

/**
 * The text with comment lines and block comments that start a line blanked (so a timer named in a comment is no
 * call); line breaks stay, so line numbers still match the file.
 */
function codeOnly(text: string): string {
  const blank = (comment: string) => comment.replace(/[^\n]/g, '');
  return text.replace(/^\s*\/\*[\s\S]*?\*\//gm, blank).replace(/^[ \t]*\/\/.*$/gm, blank);
}

/** Calls of setTimeout, setInterval and setImmediate outside comments, with their lines. */
export function timerCalls(text: string): { name: string; line: number }[] {
  const code = codeOnly(text);
  return [...code.matchAll(/\b(setTimeout|setInterval|setImmediate)\s*\(/g)].map((m) => ({
    name: m[1]!,
    line: lineOf(code, m.index),
  }));
}

// ---------------------------------------------------------------- the tree

type Module = {
  /** Path under src/ with "/" separators, e.g. "forward/listener.ts". */
  file: string;
  folder: string;
  text: string;
  imports: ImportRef[];
};

type Edge = {
  from: Module;
  ref: ImportRef;
  /** The imported file under src/ (undefined for packages, built-ins and files outside src/). */
  target: string | undefined;
  targetFolder: string | undefined;
  /** The built-in's name without "node:" (undefined when not a built-in). */
  builtin: string | undefined;
};

function folderOf(file: string): string {
  return file.includes('/') ? file.slice(0, file.indexOf('/')) : 'root';
}

function listTs(dir: string): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const full = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...listTs(full));
    else if (entry.isFile() && entry.name.endsWith('.ts') && !entry.name.endsWith('.d.ts')) out.push(full);
  }
  return out;
}

function loadTree(): { modules: Module[]; edges: Edge[] } {
  const modules = listTs(SRC)
    .sort()
    .map((full) => {
      const file = relative(SRC, full).split(sep).join('/');
      const text = readFileSync(full, 'utf8');
      return { file, folder: folderOf(file), text, imports: scanImports(text) };
    });
  const edges: Edge[] = [];
  for (const from of modules) {
    for (const ref of from.imports) {
      let target: string | undefined;
      let builtin: string | undefined;
      if (ref.spec.startsWith('.')) {
        const rel = relative(SRC, resolve(SRC, dirname(from.file), ref.spec))
          .split(sep)
          .join('/');
        if (!rel.startsWith('..')) target = rel;
      } else if (ref.spec.startsWith('node:')) {
        builtin = ref.spec.slice('node:'.length);
      } else if (builtinModules.includes(ref.spec)) {
        builtin = ref.spec;
      }
      edges.push({ from, ref, target, targetFolder: target === undefined ? undefined : folderOf(target), builtin });
    }
  }
  return { modules, edges };
}

function show(edge: Edge): string {
  return `src/${edge.from.file}:${edge.ref.line} → ${edge.ref.typeOnly ? 'type ' : ''}'${edge.ref.spec}'`;
}

function isPure(file: string): boolean {
  if (PURE.exclude.includes(file)) return false;
  return PURE.include.some((p) => (p.endsWith('/') ? file.startsWith(p) : file === p));
}

/** Strongly connected components of more than one folder (Tarjan). */
function folderCycles(graph: Map<string, Set<string>>): string[][] {
  let index = 0;
  const indices = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const out: string[][] = [];
  const visit = (v: string) => {
    indices.set(v, index);
    low.set(v, index);
    index += 1;
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!indices.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) {
        low.set(v, Math.min(low.get(v)!, indices.get(w)!));
      }
    }
    if (low.get(v) === indices.get(v)) {
      const component: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        onStack.delete(w);
        component.push(w);
      } while (w !== v);
      if (component.length > 1) out.push(component.sort());
    }
  };
  for (const v of [...graph.keys()].sort()) if (!indices.has(v)) visit(v);
  return out;
}

/** One shortest cycle through `start` inside `component`, as a list of folders ending where it began. */
function cycleThrough(start: string, component: Set<string>, graph: Map<string, Set<string>>): string[] {
  const previous = new Map<string, string>();
  const queue = [start];
  while (queue.length > 0) {
    const v = queue.shift()!;
    for (const w of [...(graph.get(v) ?? [])].sort()) {
      if (!component.has(w)) continue;
      if (w === start) {
        const path = [start];
        for (let at = v; at !== start; at = previous.get(at)!) path.unshift(at);
        path.unshift(start);
        return path;
      }
      if (!previous.has(w)) {
        previous.set(w, v);
        queue.push(w);
      }
    }
  }
  return [start];
}

const tree = loadTree();

// ---------------------------------------------------------------- the checks

test('the scanner finds value, type, multi-line, export-from and import() references, and not comments', () => {
  const sample = [
    "import assert from 'node:assert/strict';",
    'import {',
    '  type A,',
    '  b,',
    "} from '../a/b.ts';",
    'import {',
    '  type C,',
    '  type D,',
    "} from '../c/d.ts';",
    "import type E from './e.ts';",
    "import 'reflect-metadata';",
    "export { f } from './f.ts';",
    "export type { G } from '../g.ts';",
    "export * from './h.ts';",
    "// import { no } from './comment.ts';",
    ' * import { no } from "./jsdoc.ts";',
    "const x = await import('./dynamic.ts');",
    "function g(req: import('node:http').IncomingMessage) {}",
  ].join('\n');
  assert.deepEqual(
    scanImports(sample).map((r) => [r.spec, r.typeOnly, r.line]),
    [
      ['node:assert/strict', false, 1],
      ['../a/b.ts', false, 2],
      ['../c/d.ts', true, 6],
      ['./e.ts', true, 10],
      ['reflect-metadata', false, 11],
      ['./f.ts', false, 12],
      ['../g.ts', true, 13],
      ['./h.ts', false, 14],
      ['./dynamic.ts', false, 17],
      ['node:http', true, 18],
    ],
  );
});

test('timer calls are found in code, not in comments', () => {
  const sample = [
    '/**',
    ' * Never setTimeout(…) here.',
    ' */',
    '// setInterval(tick, 10) would leak',
    'const t = setTimeout(() => {}, 10);',
    '  queueMicrotask(() => setImmediate (done));',
  ].join('\n');
  assert.deepEqual(timerCalls(sample), [
    { name: 'setTimeout', line: 5 },
    { name: 'setImmediate', line: 6 },
  ]);
});

test('the scanner sees the real tree: src/cli/main.ts imports other src/ modules', () => {
  const main = tree.edges.filter((e) => e.from.file === 'cli/main.ts' && e.target !== undefined);
  assert.ok(main.length > 0, `src/cli/main.ts: no src/ imports found (${tree.modules.length} modules scanned)`);
  assert.ok(tree.modules.length > 50, `only ${tree.modules.length} modules under src/`);
  assert.ok(
    tree.edges.some((e) => e.ref.typeOnly),
    'no type-only import found anywhere: the type detection is broken',
  );
});

test('no cycle between folders (value and type imports)', () => {
  const graph = new Map<string, Set<string>>();
  const examples = new Map<string, Edge[]>();
  for (const edge of tree.edges) {
    const to = edge.targetFolder;
    if (to === undefined || to === edge.from.folder) continue;
    if (!graph.has(edge.from.folder)) graph.set(edge.from.folder, new Set());
    graph.get(edge.from.folder)!.add(to);
    const key = `${edge.from.folder}→${to}`;
    examples.set(key, [...(examples.get(key) ?? []), edge]);
  }
  const problems: string[] = [];
  for (const component of folderCycles(graph)) {
    const members = new Set(component);
    const cycle = cycleThrough(component[0]!, members, graph);
    const lines = [`folders ${component.join(', ')} import each other; one cycle: ${cycle.join(' → ')}`];
    for (let i = 0; i + 1 < cycle.length; i += 1) {
      const edges = examples.get(`${cycle[i]}→${cycle[i + 1]}`) ?? [];
      lines.push(`  ${cycle[i]} → ${cycle[i + 1]}: ${edges.slice(0, 4).map(show).join('; ')}`);
    }
    // Every edge inside the component, so the whole knot is visible, not just one loop of it.
    for (const [key, edges] of [...examples].sort()) {
      const [from, to] = key.split('→') as [string, string];
      if (members.has(from) && members.has(to)) lines.push(`  edge ${key} (${edges.length}): ${show(edges[0]!)}`);
    }
    problems.push(lines.join('\n'));
  }
  assert.equal(problems.length, 0, `folder cycles:\n${problems.join('\n')}`);
});

test('every folder is in the layer table and imports only its own or lower layers', () => {
  const problems: string[] = [];
  for (const m of tree.modules) {
    if (m.folder === 'root' && !ROOT_FILES.includes(m.file)) {
      problems.push(`src/${m.file}: only ${ROOT_FILES.join(' and ')} live directly under src/; put it in a folder`);
    }
  }
  const unknown = new Set(tree.modules.map((m) => m.folder).filter((f) => LAYERS[f] === undefined));
  for (const folder of [...unknown].sort()) {
    problems.push(
      `src/${folder}/ is not in the layer table: add it to LAYERS in test/unit/architecture.test.ts at its rank (see docs/architecture.md)`,
    );
  }
  for (const edge of tree.edges) {
    const to = edge.targetFolder;
    if (to === undefined || to === edge.from.folder) continue;
    const fromRank = LAYERS[edge.from.folder];
    const toRank = LAYERS[to];
    if (fromRank === undefined || toRank === undefined) continue;
    if (toRank > fromRank) {
      problems.push(
        `${show(edge)}: ${edge.from.folder}/ (rank ${fromRank}) imports ${to}/ (rank ${toRank}), a higher layer`,
      );
    }
  }
  assert.equal(problems.length, 0, `layering:\n${problems.join('\n')}`);
});

test('nothing outside cli/ imports cli/', () => {
  const offending = tree.edges.filter((e) => e.targetFolder === 'cli' && e.from.folder !== 'cli').map(show);
  assert.deepEqual(offending, [], `imports of cli/:\n${offending.join('\n')}`);
});

test('config/ imports only errors/events, http/, net/ and itself; only load.ts and watch.ts touch files', () => {
  const problems: string[] = [];
  for (const edge of tree.edges.filter((e) => e.from.folder === 'config')) {
    if (edge.targetFolder !== undefined && !CONFIG_MAY_IMPORT.has(edge.targetFolder)) {
      problems.push(`${show(edge)}: config/ may import only ${[...CONFIG_MAY_IMPORT].join(', ')}`);
    }
    if (edge.builtin !== undefined && FS_BUILTINS.has(edge.builtin) && !CONFIG_FS_FILES.has(edge.from.file)) {
      problems.push(`${show(edge)}: only ${[...CONFIG_FS_FILES].join(' and ')} may use the file system`);
    }
  }
  assert.equal(problems.length, 0, `config imports:\n${problems.join('\n')}`);
});

test('pure modules reach no sockets, files, timers or socket-owning modules', () => {
  const pure = tree.modules.filter((m) => isPure(m.file));
  assert.ok(
    pure.some((m) => m.folder === 'config') && pure.some((m) => m.file === 'reverse/match.ts'),
    `the pure list matched too little: ${pure.map((m) => m.file).join(', ')}`,
  );
  const problems: string[] = [];
  for (const edge of tree.edges.filter((e) => isPure(e.from.file))) {
    if (edge.builtin !== undefined && IO_BUILTINS.has(edge.builtin) && !edge.ref.typeOnly) {
      problems.push(`${show(edge)}: a pure module imports node:${edge.builtin}`);
    }
    if (edge.target !== undefined && isSocketOwning(edge.target)) {
      problems.push(`${show(edge)}: a pure module imports the socket-owning src/${edge.target}`);
    }
  }
  for (const m of pure) {
    for (const call of timerCalls(m.text))
      problems.push(`src/${m.file}:${call.line}: a pure module calls ${call.name}`);
  }
  assert.equal(problems.length, 0, `impure "pure" modules:\n${problems.join('\n')}`);
});

test(`no file under src/ is over ${MAX_LINES} lines unless its header says why ("// Size: …")`, () => {
  const problems: string[] = [];
  for (const m of tree.modules) {
    const lines = m.text.split('\n');
    const count = lines.length - (lines.at(-1) === '' ? 1 : 0);
    if (count <= MAX_LINES) continue;
    if (lines.slice(0, 20).some((l) => l.startsWith('// Size:'))) continue;
    problems.push(`src/${m.file}: ${count} lines`);
  }
  assert.equal(problems.length, 0, `long files without a "// Size:" reason:\n${problems.join('\n')}`);
});
