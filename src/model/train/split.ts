import { seededRandom, shuffled } from '../../shared/sampling.js';

export interface LabeledItem {
  /** Grouping key: items with the same group (e.g. identical bytes) land on the same side. */
  group: string;
  label: number;
}

export interface Split<T> {
  train: T[];
  val: T[];
}

/**
 * Seeded stratified split: per class, groups are shuffled and the first round(fraction * n) go to
 * validation. Pure; the same seed and input give the same split.
 */
export function stratifiedSplit<T extends LabeledItem>(items: readonly T[], valFraction: number, seed: number): Split<T> {
  if (!(valFraction >= 0 && valFraction < 1)) throw new Error(`val fraction ${valFraction} must be in [0, 1)`);
  const byClass = new Map<number, Map<string, T[]>>();
  for (const it of items) {
    const groups = byClass.get(it.label) ?? new Map<string, T[]>();
    byClass.set(it.label, groups);
    const g = groups.get(it.group) ?? [];
    g.push(it);
    groups.set(it.group, g);
  }
  const train: T[] = [];
  const val: T[] = [];
  for (const label of [...byClass.keys()].sort((a, b) => a - b)) {
    const groups = byClass.get(label)!;
    const keys = shuffled([...groups.keys()].sort(), seededRandom(seed + label * 7919));
    const total = [...groups.values()].reduce((s, g) => s + g.length, 0);
    const wantVal = Math.round(total * valFraction);
    let nVal = 0;
    for (const k of keys) {
      const g = groups.get(k)!;
      if (nVal < wantVal) { val.push(...g); nVal += g.length; } else train.push(...g);
    }
  }
  return { train, val };
}
