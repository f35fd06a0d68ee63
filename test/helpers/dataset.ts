import { readdirSync } from 'node:fs';
import path from 'node:path';
import { repoRoot } from '../../src/shared/paths.js';

/** The shared training split, read in place (never copied into the repository). */
export const DATASET =
  process.env.CXR_DATASET ?? path.resolve(repoRoot(), '..', 'shared', 'datasets', 'chest-xray-pneumonia', 'train');

export function datasetFiles(label: 'NORMAL' | 'PNEUMONIA', n: number, offset = 0): string[] {
  return readdirSync(path.join(DATASET, label))
    .sort()
    .slice(offset, offset + n)
    .map((f) => path.join(DATASET, label, f));
}
