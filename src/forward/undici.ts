// undici, imported when a forward listener starts: ~5 MiB of heap that a reverse-only wsgate would otherwise carry
// from start and go over in every full collection.
import type * as Undici from 'undici';

let loaded: typeof Undici | undefined;

export async function loadUndici(): Promise<typeof Undici> {
  loaded ??= await import('undici');
  return loaded;
}

/** undici once loadUndici() has run (a forward listener's listen()), for code that must build a client at once. */
export function undici(): typeof Undici {
  if (loaded === undefined) throw new Error('undici is used before loadUndici()');
  return loaded;
}
