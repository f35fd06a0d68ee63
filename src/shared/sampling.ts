/** A small seeded PRNG (mulberry32) so samples and splits are reproducible. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** 32-bit seed from a string (FNV-1a), to derive per-item seeds. */
export function seedFrom(...parts: Array<string | number>): number {
  let h = 0x811c9dc5;
  for (const ch of parts.join('|')) {
    h ^= ch.charCodeAt(0);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h >>> 0;
}

/** Fisher–Yates shuffle into a new array. */
export function shuffled<T>(items: readonly T[], random: () => number): T[] {
  const a = [...items];
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [a[i], a[j]] = [a[j], a[i]];
  }
  return a;
}

/** Picks `limit` items keeping each group's share (largest remainders), seeded. Pure. */
export function stratifiedSample<T>(
  groups: ReadonlyMap<string, readonly T[]>,
  limit: number,
  seed: number,
): Map<string, T[]> {
  const total = [...groups.values()].reduce((s, g) => s + g.length, 0);
  const n = Math.min(limit, total);
  const names = [...groups.keys()].sort();
  const exact = names.map((k) => (groups.get(k)!.length * n) / Math.max(1, total));
  const counts = exact.map(Math.floor);
  const byRemainder = names.map((_, i) => i).sort((a, b) => exact[b] - counts[b] - (exact[a] - counts[a]));
  for (let r = n - counts.reduce((s, c) => s + c, 0), i = 0; r > 0; r--, i++) counts[byRemainder[i % names.length]]++;
  const random = seededRandom(seed);
  return new Map(names.map((k, i) => [k, shuffled(groups.get(k)!, random).slice(0, counts[i])]));
}
