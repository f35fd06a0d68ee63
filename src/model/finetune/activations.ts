import { getFloat16 } from '@petamoriken/float16';
import { mkdir, readFile, rename, stat, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { repoRoot } from '../../shared/paths.js';
import { STAGE_OUTPUT } from '../resnet50.js';

/** A frozen prefix's output layer whose activations are cached (fp16). */
export type PrefixLayer = keyof typeof STAGE_OUTPUT;

export const defaultActivationDir = (env: NodeJS.ProcessEnv = process.env): string =>
  env.CXR_ACTIVATION_DIR || join(repoRoot(), 'models', '.cache', 'activations');

export const activationLength = (layer: PrefixLayer): number => STAGE_OUTPUT[layer].reduce((a, b) => a * b, 1);

/** Cache file for (backbone, layer, image sha256, augmentation copy): fp16, NHWC, little-endian. */
export function activationPath(
  root: string,
  backboneHash: string,
  layer: PrefixLayer,
  sha256: string,
  copy: number,
): string {
  return join(root, backboneHash.slice(0, 16), layer, sha256.slice(0, 2), `${sha256}-${copy}.f16`);
}

export async function hasActivation(p: string, layer: PrefixLayer): Promise<boolean> {
  return stat(p).then(
    (s) => s.size === activationLength(layer) * 2,
    () => false,
  );
}

export async function writeActivation(p: string, half: Uint16Array): Promise<void> {
  await mkdir(dirname(p), { recursive: true });
  const tmp = `${p}.${process.pid}.tmp`;
  await writeFile(tmp, new Uint8Array(half.buffer, half.byteOffset, half.byteLength));
  await rename(tmp, p);
}

let table: Float32Array | undefined;
/** fp16 bit pattern -> float32, all 65536 of them. */
function halfTable(): Float32Array {
  if (table) return table;
  const t = new Float32Array(65536);
  const dv = new DataView(new ArrayBuffer(2));
  for (let i = 0; i < 65536; i++) {
    dv.setUint16(0, i, true);
    t[i] = getFloat16(dv, 0, true);
  }
  return (table = t);
}

/** Widens fp16 values into `out` at `offset`. */
export function halfToFloat(half: Uint16Array, out: Float32Array, offset = 0): void {
  const t = halfTable();
  for (let i = 0; i < half.length; i++) out[offset + i] = t[half[i]];
}

/** Reads one cached activation into `out` at `offset` (floats). */
export async function readActivationInto(
  p: string,
  layer: PrefixLayer,
  out: Float32Array,
  offset: number,
): Promise<void> {
  const b = await readFile(p);
  const n = activationLength(layer);
  if (b.byteLength !== n * 2) throw new Error(`activation file ${p} has ${b.byteLength} bytes, expected ${n * 2}`);
  halfToFloat(new Uint16Array(b.buffer, b.byteOffset, n), out, offset);
}
