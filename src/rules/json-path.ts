// Reading, setting and deleting inside a parsed JSON document by JSON Pointer tokens (RFC 6901; parsed by
// config/json-pointer.ts): what the json matcher, setJson and deleteJson do to a text message. Pure.

export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

type Container = JsonValue[] | { [key: string]: JsonValue };

function isContainer(v: unknown): v is Container {
  return v !== null && typeof v === 'object';
}

/** RFC 6901 §4: an array index is "0" or digits without a leading zero; "-" is the element after the last. */
function arrayIndex(token: string, length: number, forInsert: boolean): number | undefined {
  if (token === '-' && forInsert) return length;
  if (!/^(0|[1-9]\d*)$/.test(token)) return undefined;
  const i = Number(token);
  return i < length || (forInsert && i === length) ? i : undefined;
}

/** The value at `tokens`, or `{ found: false }`. */
export function getAt(doc: JsonValue, tokens: readonly string[]): { found: true; value: JsonValue } | { found: false } {
  let v: JsonValue = doc;
  for (const token of tokens) {
    if (Array.isArray(v)) {
      const i = arrayIndex(token, v.length, false);
      if (i === undefined) return { found: false };
      v = v[i]!;
    } else if (isContainer(v)) {
      if (!Object.hasOwn(v, token)) return { found: false };
      v = v[token]!;
    } else return { found: false };
  }
  return { found: true, value: v };
}

/**
 * Sets the value at `tokens`, creating missing parents as objects. Returns the new document (the root itself is
 * replaced when `tokens` is empty) or an explanation when a parent is not a container or an index is out of range.
 */
export function setAt(
  doc: JsonValue,
  tokens: readonly string[],
  value: JsonValue,
): { ok: true; doc: JsonValue } | { ok: false; why: string } {
  if (tokens.length === 0) return { ok: true, doc: value };
  let v: JsonValue = doc;
  for (let k = 0; k < tokens.length; k++) {
    const token = tokens[k]!;
    const last = k === tokens.length - 1;
    if (Array.isArray(v)) {
      const i = arrayIndex(token, v.length, true);
      if (i === undefined) return { ok: false, why: `index ${JSON.stringify(token)} is outside the array` };
      if (last) {
        v[i] = value;
        return { ok: true, doc };
      }
      if (!isContainer(v[i])) v[i] = {};
      v = v[i]!;
    } else if (isContainer(v)) {
      if (last) {
        v[token] = value;
        return { ok: true, doc };
      }
      if (!isContainer(v[token])) v[token] = {};
      v = v[token]!;
    } else return { ok: false, why: 'a parent is not an object or array' };
  }
  return { ok: true, doc };
}

/** Deletes the value at `tokens` (an array element is spliced out); false when there is none. */
export function deleteAt(doc: JsonValue, tokens: readonly string[]): boolean {
  if (tokens.length === 0) return false;
  const parent = getAt(doc, tokens.slice(0, -1));
  if (!parent.found) return false;
  const token = tokens[tokens.length - 1]!;
  const p = parent.value;
  if (Array.isArray(p)) {
    const i = arrayIndex(token, p.length, false);
    if (i === undefined) return false;
    p.splice(i, 1);
    return true;
  }
  if (!isContainer(p) || !Object.hasOwn(p, token)) return false;
  delete p[token];
  return true;
}
