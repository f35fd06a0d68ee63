import { CLASS_NAMES } from '../model/train/dataset.js';
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

/** Seeded stratified subset (as plan.ts limitItems), then the seeded stratified train/val split. Pure. */
export function splitRun(items: readonly TrainItem[], opts: { limit: number; valFraction: number; seed: number }): { train: TrainItem[]; val: TrainItem[] } {
  const subset = opts.limit > 0 && opts.limit < items.length ? stratifiedSplit(items, opts.limit / items.length, opts.seed ^ 0x5bd1e995).val : items;
  return stratifiedSplit(subset, opts.valFraction, opts.seed);
}
