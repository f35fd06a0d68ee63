export interface BatchNormParams {
  /** Missing when the layer has scale: false. */
  gamma?: Float32Array;
  /** Missing when the layer has center: false. */
  beta?: Float32Array;
  mean: Float32Array;
  variance: Float32Array;
  epsilon: number;
}

/**
 * Folds y = gamma * (conv(x) + b - mean) / sqrt(var + eps) + beta into the convolution:
 * W'[o] = W[o] * s[o], b'[o] = (b[o] - mean[o]) * s[o] + beta[o], with s = gamma / sqrt(var + eps).
 * `weight` is OIHW (output channel first); computed in float64, stored as float32.
 */
export function foldBatchNorm(
  weight: Float32Array,
  bias: Float32Array | undefined,
  outChannels: number,
  bn: BatchNormParams,
): { weight: Float32Array; bias: Float32Array } {
  if (weight.length % outChannels !== 0)
    throw new Error(`foldBatchNorm: ${weight.length} weights do not split into ${outChannels} output channels`);
  for (const [k, v] of [
    ['mean', bn.mean],
    ['variance', bn.variance],
    ['gamma', bn.gamma],
    ['beta', bn.beta],
    ['bias', bias],
  ] as const) {
    if (v && v.length !== outChannels)
      throw new Error(`foldBatchNorm: ${k} has ${v.length} values, expected ${outChannels}`);
  }
  const per = weight.length / outChannels;
  const w = new Float32Array(weight.length);
  const b = new Float32Array(outChannels);
  for (let o = 0; o < outChannels; o++) {
    const s = (bn.gamma ? bn.gamma[o] : 1) / Math.sqrt(bn.variance[o] + bn.epsilon);
    for (let j = 0; j < per; j++) w[o * per + j] = weight[o * per + j] * s;
    b[o] = ((bias ? bias[o] : 0) - bn.mean[o]) * s + (bn.beta ? bn.beta[o] : 0);
  }
  return { weight: w, bias: b };
}
