import type { FeatureSet } from './head-train.js';

/** Features standardised column by column: (x - mean) / std. Pure. */
export function standardise(s: FeatureSet, mean: Float32Array, std: Float32Array): FeatureSet {
  const x = new Float32Array(s.x.length);
  for (let i = 0; i < s.n; i++)
    for (let j = 0; j < s.dim; j++) x[i * s.dim + j] = (s.x[i * s.dim + j] - mean[j]) / std[j];
  return { ...s, x };
}
