import type { ImageItem } from './dataset.js';
import type { FeatureJob } from './features.js';
import { seededRandom, shuffled } from '../../shared/sampling.js';
import { stratifiedSplit, type Split } from './split.js';

/** Seeded subset of at most `limit` items, stratified by class proportion (0 = all). */
export function limitItems(items: ImageItem[], limit: number, seed: number): ImageItem[] {
  if (limit <= 0 || limit >= items.length) return items;
  return stratifiedSplit(items, limit / items.length, seed ^ 0x5bd1e995).val;
}

export interface Plan {
  split: Split<ImageItem>;
  jobs: FeatureJob[];
}

/**
 * Split, then the feature jobs: copy 0 of every image first (shuffled, so a partial cache is a fair
 * sample), then augmented copies 1..k of training images only.
 */
export function planFeatures(items: ImageItem[], valFraction: number, augmentCopies: number, seed: number): Plan {
  const split = stratifiedSplit(items, valFraction, seed);
  const rand = seededRandom(seed ^ 0x9e3779b9);
  const jobs: FeatureJob[] = [];
  const seen = new Set<string>();
  for (const it of shuffled(items, rand)) {
    if (seen.has(it.sha256)) continue; // identical bytes, identical features
    seen.add(it.sha256);
    jobs.push({ path: it.path, sha256: it.sha256, copy: 0 });
  }
  for (let c = 1; c <= augmentCopies; c++) {
    const seenC = new Set<string>();
    for (const it of shuffled(split.train, rand)) {
      if (seenC.has(it.sha256)) continue;
      seenC.add(it.sha256);
      jobs.push({ path: it.path, sha256: it.sha256, copy: c });
    }
  }
  return { split, jobs };
}
