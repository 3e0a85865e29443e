// "Did you mean" hints for misspelt keys, enum values and upstream names.

// Optimal string alignment distance: Levenshtein plus adjacent transposition, so "hots" is one edit from "host".
function editDistance(a: string, b: string): number {
  const rows: number[][] = [];
  for (let i = 0; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) row.push(i === 0 ? j : 0);
    rows.push(row);
  }
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let d = Math.min(rows[i - 1]![j]! + 1, rows[i]![j - 1]! + 1, rows[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d = Math.min(d, rows[i - 2]![j - 2]! + 1);
      rows[i]![j] = d;
    }
  }
  return rows[a.length]![b.length]!;
}

/** The candidate closest to `word` (case-insensitively), if it is close enough to be a likely typo. */
export function closest(word: string, candidates: Iterable<string>): string | undefined {
  const w = word.toLowerCase();
  let best: string | undefined;
  let bestDistance = Number.POSITIVE_INFINITY;
  for (const candidate of candidates) {
    const c = candidate.toLowerCase();
    const d = editDistance(w, c);
    // A prefix either way ("warning" for "warn", "listener" for "listeners") is a likely slip even when far apart.
    const prefix = Math.min(w.length, c.length) >= 3 && (w.startsWith(c) || c.startsWith(w));
    if (d < bestDistance && (d <= Math.max(1, Math.floor(c.length / 3)) || prefix)) {
      best = candidate;
      bestDistance = d;
    }
  }
  return best;
}

/** `; did you mean "upstream"?` or the empty string. */
export function didYouMean(word: string, candidates: Iterable<string>): string {
  const match = closest(word, candidates);
  return match === undefined ? '' : `; did you mean ${JSON.stringify(match)}?`;
}
