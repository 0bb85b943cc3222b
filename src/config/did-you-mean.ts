// The one "did you mean" of vpnns: config keys and enum values (load.ts), OpenVPN options and
// inline blocks (vpn/ovpn.ts), wg-quick keys and sections (vpn/wgquick.ts). One rule, so a typo
// gets the same help wherever it is made.

/**
 * The candidate a typo most likely meant, compared case-insensitively; undefined when none is
 * close. A swap of two neighbouring letters counts as one edit ("dsn" → "dns"). Short words are
 * too easily "close" to anything, so the allowance grows with the word: 1 edit up to 3 letters, 2
 * up to 6, else 3; and a candidate is never offered when every one of its letters would change.
 * On a tie the first candidate wins.
 */
export function didYouMean(word: string, candidates: readonly string[]): string | undefined {
  const w = word.toLowerCase();
  const allowed = w.length <= 3 ? 1 : w.length <= 6 ? 2 : 3;
  let best: string | undefined;
  let bestDistance = allowed + 1;
  for (const c of candidates) {
    const d = editDistance(w, c.toLowerCase());
    if (d < bestDistance && d < c.length) [best, bestDistance] = [c, d];
  }
  return best;
}

/** Optimal string alignment distance: insertions, deletions, substitutions and adjacent swaps. */
function editDistance(a: string, b: string): number {
  const d = Array.from({ length: a.length + 1 }, (_, i) => Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const row = d[i]!;
      row[j] = Math.min(d[i - 1]![j]! + 1, row[j - 1]! + 1, d[i - 1]![j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) row[j] = Math.min(row[j]!, d[i - 2]![j - 2]! + 1);
    }
  }
  return d[a.length]![b.length]!;
}
