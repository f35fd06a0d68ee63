import { CLASS_NAMES } from '../model/train/dataset.js';
import { groupByPatient, parseGroupBy, type GroupStats } from '../model/train/groups.js';
import { stratifiedSplit } from '../model/train/split.js';
import { seedFrom } from '../shared/sampling.js';
import type { ClassName } from '../shared/labels.js';
import type { ListedObject } from '../shared/s3/objects.js';
import type { TrainItem } from './types.js';

/** Labelled items from listed objects (unlabelled ones are left out and counted). Pure. */
export function labelItems(
  objects: readonly ListedObject[],
  labelOf: (key: string) => ClassName | undefined,
): { items: TrainItem[]; unlabelled: number } {
  const items: TrainItem[] = [];
  let unlabelled = 0;
  for (const o of objects) {
    const name = labelOf(o.key);
    if (!name) {
      unlabelled++;
      continue;
    }
    items.push({ key: o.key, etag: o.etag, label: CLASS_NAMES.indexOf(name), group: o.etag || o.key });
  }
  return { items, unlabelled };
}

export interface SplitRunOptions {
  limit: number;
  /** Share split off from training: validation plus the held-out set. */
  valFraction: number;
  /** Share of all images held out, carved out of the split-off side (0 = none). */
  holdoutFraction?: number;
  seed: number;
  groupBy: string;
}

/**
 * Groups the items by patient (`groupBy`, or the labels file's groups) joined with identical ETags,
 * then the seeded stratified subset (as plan.ts limitItems) and the seeded stratified train/val split
 * of whole groups. With a holdout fraction, whole patients of the split-off side are held out: the
 * training side stays what the same seed gave before (so a model trained on it, as 2.0.0 was, never
 * trained on a held-out patient). Pure.
 */
export function splitRun(
  items: readonly TrainItem[],
  opts: SplitRunOptions,
  groups?: ReadonlyMap<string, string>,
): { train: TrainItem[]; val: TrainItem[]; holdout: TrainItem[]; grouping: GroupStats } {
  const g = groupByPatient(items, (i) => i.key, parseGroupBy(opts.groupBy), groups);
  const all = g.items;
  const subset =
    opts.limit > 0 && opts.limit < all.length
      ? stratifiedSplit(all, opts.limit / all.length, opts.seed ^ 0x5bd1e995).val
      : all;
  const { train, val: rest } = stratifiedSplit(subset, opts.valFraction, opts.seed);
  const h = opts.holdoutFraction ?? 0;
  if (h <= 0) return { train, val: rest, holdout: [], grouping: g.stats };
  const held = stratifiedSplit(rest, h / opts.valFraction, seedFrom('holdout', opts.seed));
  return { train, val: held.train, holdout: held.val, grouping: g.stats };
}
