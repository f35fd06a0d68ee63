/** A head's weights with the number of samples it was trained on. */
export interface WeightedHead {
  kernel: Float32Array;
  bias: number;
  samples: number;
}

/** Sample-weighted mean of the shards' heads (federated averaging): the kernel and bias as one vector. Pure. */
export function averageHeads(heads: readonly WeightedHead[]): { kernel: Float32Array; bias: number; samples: number } {
  const avg = averageVectors(
    heads.map((h) => {
      const values = new Float32Array(h.kernel.length + 1);
      values.set(h.kernel);
      values[h.kernel.length] = h.bias;
      return { values, samples: h.samples };
    }),
  );
  return { kernel: avg.values.slice(0, -1), bias: avg.values[avg.values.length - 1], samples: avg.samples };
}

/** Exact per-column mean/std from shards' sums and sums of squares (std floored at 1e-6, as columnStats). */
export function combineStats(parts: readonly { n: number; sum: Float64Array; sumSq: Float64Array }[]): {
  mean: Float32Array;
  std: Float32Array;
  n: number;
} {
  const dim = parts[0].sum.length;
  const n = parts.reduce((s, p) => s + p.n, 0);
  if (n === 0) throw new Error('no training vectors');
  const mean = new Float32Array(dim);
  const std = new Float32Array(dim);
  for (let j = 0; j < dim; j++) {
    let s = 0;
    let q = 0;
    for (const p of parts) {
      s += p.sum[j];
      q += p.sumSq[j];
    }
    const m = s / n;
    mean[j] = m;
    std[j] = Math.max(1e-6, Math.sqrt(Math.max(0, q / n - m * m)));
  }
  return { mean, std, n };
}

/** Sample-weighted mean of equally long weight vectors (every weight of a fine-tuned suffix). Pure; float64 accumulation. */
export function averageVectors(parts: readonly { values: Float32Array; samples: number }[]): {
  values: Float32Array;
  samples: number;
} {
  if (parts.length === 0) throw new Error('nothing to average');
  const len = parts[0].values.length;
  const total = parts.reduce((s, p) => s + p.samples, 0);
  if (!(total > 0)) throw new Error('shards saw no samples');
  const acc = new Float64Array(len);
  for (const p of parts) {
    if (p.values.length !== len) throw new Error(`weight vector length ${p.values.length} != ${len}`);
    const w = p.samples / total;
    for (let j = 0; j < len; j++) acc[j] += w * p.values[j];
  }
  return { values: Float32Array.from(acc), samples: total };
}
