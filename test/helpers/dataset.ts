import { readdirSync, readFileSync } from 'node:fs';
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

/**
 * Files of patients the shipped model holds out (its held-out.json): their bytes are not in its
 * training-set hashes, so a run over them carries no in-training-set flag.
 */
export function heldOutFiles(label: 'NORMAL' | 'PNEUMONIA', n: number, offset = 0): string[] {
  const held = JSON.parse(
    readFileSync(path.join(repoRoot(), 'models', 'pneumonia-resnet50', 'held-out.json'), 'utf8'),
  ) as {
    images: { path: string; label: number }[];
  };
  return held.images
    .filter((i) => i.label === (label === 'NORMAL' ? 0 : 1))
    .map((i) => path.join(DATASET, i.path))
    .sort()
    .slice(offset, offset + n);
}
