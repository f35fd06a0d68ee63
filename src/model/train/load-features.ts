import type { ImageItem } from './dataset.js';
import { FEATURE_DIM, featurePath, hasFeature, readFeature, type FeatureJob } from './features.js';
import type { FeatureSet } from './head-train.js';

/** `groups`: the group (patient) of each loaded row. */
export interface LoadedSet {
  set: FeatureSet;
  missing: number;
  byCopy: number[];
  groups: string[];
}

/**
 * Gathers cached features for items x copies into one matrix. Missing vectors are skipped when
 * `allowMissing` (a partial cache), otherwise an error.
 */
export async function loadFeatureSet(
  items: ImageItem[],
  copies: number[],
  root: string,
  bbHash: string,
  allowMissing: boolean,
): Promise<LoadedSet> {
  const rows: Float32Array[] = [];
  const labels: number[] = [];
  const groups: string[] = [];
  const byCopy = copies.map(() => 0);
  let missing = 0;
  for (const it of items) {
    for (const [ci, c] of copies.entries()) {
      const p = featurePath(root, bbHash, it.sha256, c);
      if (!(await hasFeature(p))) {
        if (!allowMissing) throw new Error(`feature missing for ${it.path} copy ${c} (${p}); run extraction first`);
        missing++;
        continue;
      }
      rows.push(await readFeature(p));
      labels.push(it.label);
      groups.push(it.group);
      byCopy[ci]++;
    }
  }
  const x = new Float32Array(rows.length * FEATURE_DIM);
  rows.forEach((r, i) => x.set(r, i * FEATURE_DIM));
  return { set: { x, y: Uint8Array.from(labels), n: rows.length, dim: FEATURE_DIM }, missing, byCopy, groups };
}

export type { FeatureJob };
