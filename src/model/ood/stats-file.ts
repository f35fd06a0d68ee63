import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { getFloat16, setFloat16 } from '@petamoriken/float16';
import type { Logger } from '../../shared/logger.js';
import type { Gaussian } from './mahalanobis.js';

export const OOD_JSON = 'ood-stats.json';
export const OOD_BIN = 'ood-stats.bin';

/** ood-stats.json: what the .bin holds, which model's features it was fitted on, and the flag threshold. */
export interface OodMeta {
  /** The model whose pooled features were fitted (for people; calibrated copies share its weights). */
  modelId: string;
  /** sha256 of the model's weights.bin: the features, and so the stats, belong to these weights only. */
  weightsSha256: string;
  featureLayer: string;
  dim: number;
  shrinkage: number;
  /** Distances above this are flagged 'out of distribution'. */
  threshold: number;
  thresholdRule: string;
  fitImages: number;
  thresholdImages: number;
  data: string;
  file: string;
  sha256: string;
  encoding: string;
}

export interface OodModel extends Pick<Gaussian, 'dim' | 'mean' | 'whitening'> {
  meta: OodMeta;
}

export const OOD_ENCODING =
  'float32 mean[d]; float32 rowScale[d]; float16 whitening/rowScale, lower triangle, row-major';

/** The .bin: mean, then the whitening matrix's lower triangle as float16 scaled per row (4.2 MB at d=2048). Pure. */
export function encodeOodStats(g: Pick<Gaussian, 'dim' | 'mean' | 'whitening'>): Uint8Array {
  const d = g.dim;
  const tri = (d * (d + 1)) / 2;
  const buf = new ArrayBuffer(8 * d + 2 * tri);
  const view = new DataView(buf);
  let at = 0;
  for (let j = 0; j < d; j++, at += 4) view.setFloat32(at, g.mean[j], true);
  const scales = Array.from({ length: d }, (_, r) => {
    let m = 0;
    for (let k = 0; k <= r; k++) m = Math.max(m, Math.abs(g.whitening[r * d + k]));
    return m || 1;
  });
  for (const s of scales) {
    view.setFloat32(at, s, true);
    at += 4;
  }
  for (let r = 0; r < d; r++)
    for (let k = 0; k <= r; k++, at += 2) setFloat16(view, at, g.whitening[r * d + k] / scales[r], true);
  return new Uint8Array(buf);
}

/** Inverse of encodeOodStats. Pure. */
export function decodeOodStats(bytes: Uint8Array, d: number): Pick<Gaussian, 'dim' | 'mean' | 'whitening'> {
  const tri = (d * (d + 1)) / 2;
  if (bytes.byteLength !== 8 * d + 2 * tri)
    throw new Error(`OOD stats hold ${bytes.byteLength} bytes, d=${d} needs ${8 * d + 2 * tri}`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const mean = new Float64Array(d);
  const scales = new Float64Array(d);
  let at = 0;
  for (let j = 0; j < d; j++, at += 4) mean[j] = view.getFloat32(at, true);
  for (let j = 0; j < d; j++, at += 4) scales[j] = view.getFloat32(at, true);
  const whitening = new Float64Array(d * d);
  for (let r = 0; r < d; r++)
    for (let k = 0; k <= r; k++, at += 2) whitening[r * d + k] = getFloat16(view, at, true) * scales[r];
  return { dim: d, mean, whitening };
}

/**
 * The OOD model shipped beside a model (ood-stats.json + .bin), checked against its sha256; undefined
 * when the model ships none, or (with a warning) when it was fitted on other weights (an adapted model).
 */
export async function loadOodModel(dir: string, logger?: Pick<Logger, 'warn'>): Promise<OodModel | undefined> {
  let meta: OodMeta;
  try {
    meta = JSON.parse(await readFile(join(dir, OOD_JSON), 'utf8')) as OodMeta;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  const weights = sha256(new Uint8Array(await readFile(join(dir, 'weights.bin'))));
  if (meta.weightsSha256 !== weights) {
    logger?.warn(
      { dir, fittedOn: meta.modelId },
      `${OOD_JSON} was fitted on other weights: no OOD score until it is refitted (npm run ood:fit)`,
    );
    return undefined;
  }
  const bytes = new Uint8Array(await readFile(join(dir, meta.file)));
  const sha = sha256(bytes);
  if (sha !== meta.sha256)
    throw new Error(
      `${join(dir, meta.file)}: sha256 ${sha.slice(0, 16)} does not match ${OOD_JSON} (${meta.sha256.slice(0, 16)})`,
    );
  return { ...decodeOodStats(bytes, meta.dim), meta };
}

export const sha256 = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');
