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
 * Seeded stratified split of whole groups: each group belongs to the class most of its items have
 * (ties: the lower class); per class, its groups are shuffled and the first ones go to validation
 * until round(fraction * the class's items) are there. A group never straddles the split. Pure; the
 * same seed and input give the same split.
 */
export function stratifiedSplit<T extends LabeledItem>(
  items: readonly T[],
  valFraction: number,
  seed: number,
): Split<T> {
  if (!(valFraction >= 0 && valFraction < 1)) throw new Error(`val fraction ${valFraction} must be in [0, 1)`);
  const byGroup = new Map<string, T[]>();
  for (const it of items) {
    const g = byGroup.get(it.group);
    if (g) g.push(it);
    else byGroup.set(it.group, [it]);
  }
  const byClass = new Map<number, Map<string, T[]>>();
  for (const [key, g] of byGroup) {
    const label = majorityLabel(g);
    byClass.set(label, (byClass.get(label) ?? new Map<string, T[]>()).set(key, g));
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
      if (nVal < wantVal) {
        val.push(...g);
        nVal += g.length;
      } else train.push(...g);
    }
  }
  return { train, val };
}

function majorityLabel(g: readonly LabeledItem[]): number {
  const counts = new Map<number, number>();
  for (const it of g) counts.set(it.label, (counts.get(it.label) ?? 0) + 1);
  return [...counts].sort((a, b) => b[1] - a[1] || a[0] - b[0])[0][0];
}
