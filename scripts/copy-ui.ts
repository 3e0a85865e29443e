// `npm run build` step after tsc: the inspector's static files (HTML, browser JavaScript, CSS) are not TypeScript,
// so tsc does not emit them; src/inspector/static.ts looks for them beside itself, in dist/inspector/ui/.
import { cpSync, rmSync } from 'node:fs';

const from = new URL('../src/inspector/ui/', import.meta.url);
const to = new URL('../dist/inspector/ui/', import.meta.url);
rmSync(to, { recursive: true, force: true });
cpSync(from, to, { recursive: true });
