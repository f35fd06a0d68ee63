import { CLASS_NAMES } from '../model/train/dataset.js';
import { groupByPatient, parseGroupBy, type GroupStats } from '../model/train/groups.js';
import { stratifiedSplit } from '../model/train/split.js';
import type { ClassName } from '../shared/labels.js';
import type { ListedObject } from '../shared/s3/objects.js';
import type { TrainItem } from './types.js';

/** Labelled items from listed objects (unlabelled ones are left out and counted). Pure. */
export function labelItems(objects: readonly ListedObject[], labelOf: (key: string) => ClassName | undefined): { items: TrainItem[]; unlabelled: number } {
  const items: TrainItem[] = [];
  let unlabelled = 0;
  for (const o of objects) {
    const name = labelOf(o.key);
    if (!name) { unlabelled++; continue; }
    items.push({ key: o.key, etag: o.etag, label: CLASS_NAMES.indexOf(name), group: o.etag || o.key });
  }
  return { items, unlabelled };
}

export interface SplitRunOptions { limit: number; valFraction: number; seed: number; groupBy: string }

/**
 * Groups the items by patient (`groupBy`, or the labels file's groups) joined with identical ETags,
 * then the seeded stratified subset (as plan.ts limitItems) and the seeded stratified train/val split
 * of whole groups. Pure.
 */
export function splitRun(items: readonly TrainItem[], opts: SplitRunOptions, groups?: ReadonlyMap<string, string>): { train: TrainItem[]; val: TrainItem[]; grouping: GroupStats } {
  const g = groupByPatient(items, (i) => i.key, parseGroupBy(opts.groupBy), groups);
  const all = g.items;
  const subset = opts.limit > 0 && opts.limit < all.length ? stratifiedSplit(all, opts.limit / all.length, opts.seed ^ 0x5bd1e995).val : all;
  return { ...stratifiedSplit(subset, opts.valFraction, opts.seed), grouping: g.stats };
}
