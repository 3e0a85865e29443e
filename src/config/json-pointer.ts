// JSON Pointers (RFC 6901) as rules write them: "" is the whole document, "/a/0/b~1c" walks keys and indices.
// The grammar lives in config/ because the config validates every pointer at load (a bad one is a config error
// with its position); rules/ (above) uses the parsed tokens to read, set and delete. Pure.

export type PointerResult = { ok: true; tokens: string[] } | { ok: false; message: string };

/** `"/a/b~1c/0"` → `["a", "b/c", "0"]`; RFC 6901 §3: every token starts with "/", "~" only as "~0" or "~1". */
export function parseJsonPointer(pointer: string): PointerResult {
  if (pointer === '') return { ok: true, tokens: [] };
  if (!pointer.startsWith('/')) {
    return {
      ok: false,
      message: `invalid JSON pointer ${JSON.stringify(pointer)}: it starts with "/" (e.g. "/user/name"), or is "" for the whole document`,
    };
  }
  if (/~(?![01])/.test(pointer)) {
    return {
      ok: false,
      message: `invalid JSON pointer ${JSON.stringify(pointer)}: "~" must be written "~0", and "/" inside a key "~1"`,
    };
  }
  // RFC 6901 §4: ~1 is decoded before ~0, so "~01" stays the key "~1".
  const tokens = pointer
    .slice(1)
    .split('/')
    .map((t) => t.replaceAll('~1', '/').replaceAll('~0', '~'));
  return { ok: true, tokens };
}
