/**
 * "Did you mean ...?" for values chosen from a fixed list (flag values, ini keys, page names,
 * event ids): the closest candidates by edit distance, case-insensitive.
 *
 * @module
 */

/** Levenshtein distance between two strings (pure). */
export function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      current[j] = Math.min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost);
    }
    previous = current;
  }
  return previous[b.length];
}

/**
 * The candidates closest to `value` (pure), best first, at most `max`:
 * a case-insensitive equal first, then those containing it or contained in
 * it, then those within an edit distance of about a third of the longer name.
 */
export function closestMatches(value: string, candidates: readonly string[], max = 3): string[] {
  const v = value.trim().toLowerCase();
  if (v === "") return [];
  const scored = candidates.map((c) => {
    const lower = c.toLowerCase();
    const distance = editDistance(v, lower);
    const contains = v.length >= 3 && (lower.includes(v) || v.includes(lower));
    const limit = Math.max(2, Math.floor(Math.max(v.length, lower.length) / 3));
    const score = lower === v
      ? -2
      : contains
      ? -1 + distance / 1000
      : distance <= limit
      ? distance
      : Infinity;
    return { c, score };
  });
  return scored.filter((s) => Number.isFinite(s.score)).sort((a, b) => a.score - b.score).slice(0, max)
    .map((s) => s.c);
}

/** ` (did you mean A, B or C?)`, or "" when nothing is close (pure). */
export function didYouMean(value: string, candidates: readonly string[], max = 3): string {
  const found = closestMatches(value, candidates, max);
  if (found.length === 0) return "";
  const list = found.length === 1 ? found[0] : `${found.slice(0, -1).join(", ")} or ${found.at(-1)}`;
  return ` (did you mean ${list}?)`;
}
