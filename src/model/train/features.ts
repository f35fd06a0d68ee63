import { mkdir, readFile, rename, stat, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { repoRoot } from '../../shared/paths.js';

export const FEATURE_DIM = 2048;
export const defaultFeatureDir = (): string => join(repoRoot(), 'models', '.cache', 'features');

/** One feature vector to compute: image content hash + augmentation copy (0 = original). */
export interface FeatureJob {
  path: string;
  sha256: string;
  copy: number;
}

/** Cache file for (backbone, image, copy); the backbone hash prefix keys the whole folder. */
export function featurePath(root: string, backboneHash: string, sha256: string, copy: number): string {
  return join(root, backboneHash.slice(0, 16), sha256.slice(0, 2), `${sha256}-${copy}.f32`);
}

export async function hasFeature(p: string): Promise<boolean> {
  return stat(p).then(
    (s) => s.size === FEATURE_DIM * 4,
    () => false,
  );
}

export async function writeFeature(p: string, v: Float32Array): Promise<void> {
  if (v.length !== FEATURE_DIM) throw new Error(`feature has ${v.length} values, expected ${FEATURE_DIM}`);
  await mkdir(dirname(p), { recursive: true });
  const tmp = `${p}.${process.pid}.tmp`;
  await writeFile(tmp, new Uint8Array(v.buffer, v.byteOffset, v.byteLength));
  await rename(tmp, p);
}

export async function readFeature(p: string): Promise<Float32Array> {
  const b = await readFile(p);
  if (b.byteLength !== FEATURE_DIM * 4) throw new Error(`feature file ${p} has ${b.byteLength} bytes`);
  return new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
}
