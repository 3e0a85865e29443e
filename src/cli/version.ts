import { readFileSync } from 'node:fs';

/** Read from package.json beside src/ or dist/, so the published bin and the sources agree. */
export function packageVersion(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}
