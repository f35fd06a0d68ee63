import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fitGaussian, mahalanobis, percentile, type Gaussian } from './mahalanobis.js';
import { decodeOodStats, encodeOodStats, OOD_BIN, OOD_ENCODING, OOD_JSON, sha256, type OodMeta } from './stats-file.js';

export const OOD_PERCENTILE = 99.5;

export interface FittedOod {
  gaussian: Gaussian;
  /** The .bin as shipped (float16 whitening). */
  bin: Uint8Array;
  /** Distances of the held-out rows through the shipped encoding. */
  heldOut: Float32Array;
  /** The OOD_PERCENTILE-th percentile of heldOut. */
  threshold: number;
}

/**
 * Fits the Gaussian on one set of training features and sets the threshold on another (held out from
 * the fit: in-sample distances in 2048 dimensions run far lower than new images'). Pure but heavy.
 */
export function fitOod(
  fitRows: Float32Array,
  nFit: number,
  heldRows: Float32Array,
  nHeld: number,
  dim: number,
): FittedOod {
  const gaussian = fitGaussian(fitRows, nFit, dim);
  const bin = encodeOodStats(gaussian);
  const heldOut = mahalanobis(decodeOodStats(bin, dim), heldRows, nHeld);
  return { gaussian, bin, heldOut, threshold: percentile(heldOut, OOD_PERCENTILE) };
}

/** Writes ood-stats.json and ood-stats.bin into a model folder, bound to its weights.bin. */
export async function writeOodStats(
  dir: string,
  fitted: FittedOod,
  info: Pick<OodMeta, 'modelId' | 'featureLayer' | 'fitImages' | 'thresholdImages' | 'data' | 'thresholdRule'>,
): Promise<OodMeta> {
  const meta: OodMeta = {
    ...info,
    weightsSha256: sha256(new Uint8Array(await readFile(join(dir, 'weights.bin')))),
    dim: fitted.gaussian.dim,
    shrinkage: fitted.gaussian.shrinkage,
    threshold: fitted.threshold,
    file: OOD_BIN,
    sha256: sha256(fitted.bin),
    encoding: OOD_ENCODING,
  };
  await writeFile(join(dir, OOD_BIN), fitted.bin);
  await writeFile(join(dir, OOD_JSON), JSON.stringify(meta, null, 2) + '\n');
  return meta;
}
