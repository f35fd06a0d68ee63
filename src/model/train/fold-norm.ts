/** Head weights on standardised features ((x - mean) / std) -> weights on raw features (what the head layer holds). Pure. */
export function foldNorm(
  kernel: Float32Array,
  bias: number,
  mean: Float32Array,
  std: Float32Array,
): { kernel: Float32Array; bias: number } {
  const k = new Float32Array(kernel.length);
  let b = bias;
  for (let j = 0; j < kernel.length; j++) {
    k[j] = kernel[j] / std[j];
    b -= (kernel[j] * mean[j]) / std[j];
  }
  return { kernel: k, bias: b };
}

/** Inverse of foldNorm: a head on raw features -> the same head on standardised features. Pure. */
export function unfoldNorm(
  kernel: Float32Array,
  bias: number,
  mean: Float32Array,
  std: Float32Array,
): { kernel: Float32Array; bias: number } {
  const k = new Float32Array(kernel.length);
  let b = bias;
  for (let j = 0; j < kernel.length; j++) {
    k[j] = kernel[j] * std[j];
    b += kernel[j] * mean[j];
  }
  return { kernel: k, bias: b };
}
