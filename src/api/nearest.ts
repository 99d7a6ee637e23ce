/** "Did you mean …?": the known name closest to a misspelt one. */

/** Levenshtein distance (insert, delete, substitute: 1 each). */
export function editDistance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0]!;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const cur = row[j]!;
      row[j] = Math.min(row[j]! + 1, row[j - 1]! + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = cur;
    }
  }
  return row[b.length]!;
}

/**
 * The candidate nearest to `name`, compared case-insensitively and without `_`/`-` (so
 * `per_try_timeout` finds `perTryTimeout`), if within `maxDistance` (default: a third of the
 * name's length, at least 2) edits; ties go to the first candidate.
 */
export function nearest<T extends string>(name: string, candidates: Iterable<T>, maxDistance?: number): T | undefined {
  const norm = (s: string) => s.toLowerCase().replace(/[_-]/g, '');
  const n = norm(name);
  const limit = maxDistance ?? Math.max(2, Math.floor(n.length / 3));
  let best: T | undefined;
  let bestD = limit + 1;
  for (const c of candidates) {
    const d = editDistance(n, norm(c));
    if (d < bestD) {
      bestD = d;
      best = c;
    }
  }
  return best;
}
