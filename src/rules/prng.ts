// A small deterministic pseudo-random generator for rules (probability, reorder), so a run with the same seed
// repeats exactly: tests can assert which messages a `probability: 0.5` rule hit. mulberry32 (Tommy Ettinger's
// 32-bit generator): one 32-bit state, good enough spread for test traffic, not for anything secret. Pure.

export type Random = () => number;

/** A generator of floats in [0, 1) from a 32-bit seed; the same seed gives the same sequence. */
export function mulberry32(seed: number): Random {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** FNV-1a over the UTF-16 code units of `text`: a connection id (or a rule name) → a 32-bit seed. */
export function seedOf(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/** A permutation of 0..n-1 (Fisher-Yates); never the identity for n > 1, so a reorder always reorders. */
export function shuffledOrder(n: number, random: Random): number[] {
  const order = Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [order[i], order[j]] = [order[j]!, order[i]!];
  }
  if (n > 1 && order.every((v, i) => v === i)) order.push(order.shift()!);
  return order;
}
