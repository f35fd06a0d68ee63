import * as tf from '@tensorflow/tfjs';
import { accumulateBnStats, emptyBnSums, type BnSums } from './bn-stats.js';
import type { SuffixModel } from './suffix-model.js';

/**
 * What a set of images looks like to a fine-tuned model: each BatchNorm layer's input mean/variance
 * (AdaBN pass: batch statistics, layer by layer) and the GAP features' mean/std (inference mode).
 * A model ships the statistics of its training images; `models adapt` measures a site's and moves
 * the model by the difference, so a site like the training data leaves the model unchanged.
 */
export interface SiteStats {
  n: number;
  layers: string[];
  bnMean: Float32Array[];
  bnVar: Float32Array[];
  featMean: Float32Array;
  featStd: Float32Array;
}

/** Batches of prefix activations (float32, NHWC), any number of times. */
export type ActivationBatches = () => AsyncIterable<{ x: Float32Array; n: number }>;

const shapeOf = (m: SuffixModel) => m.gap.inputs[0].shape.slice(1) as number[];

/** AdaBN pass: pooled per-layer batch statistics. */
export async function bnStatsOf(m: SuffixModel, batches: ActivationBatches): Promise<BnSums> {
  const sums = emptyBnSums(m);
  for await (const b of batches()) {
    const t = tf.tensor4d(b.x, [b.n, ...shapeOf(m)] as [number, number, number, number]);
    accumulateBnStats(m, t, sums);
    t.dispose();
  }
  return sums;
}

/** GAP features' mean and std (std floored at 1e-6) with BatchNorm in inference mode. */
export async function featureStatsOf(
  m: SuffixModel,
  batches: ActivationBatches,
): Promise<{ n: number; mean: Float32Array; std: Float32Array }> {
  let sum: Float64Array | undefined;
  let sumSq: Float64Array | undefined;
  let n = 0;
  for await (const b of batches()) {
    const f = tf.tidy(
      () => m.gap.predict(tf.tensor4d(b.x, [b.n, ...shapeOf(m)] as [number, number, number, number])) as tf.Tensor,
    );
    const v = f.dataSync() as Float32Array;
    f.dispose();
    const dim = v.length / b.n;
    sum ??= new Float64Array(dim);
    sumSq ??= new Float64Array(dim);
    for (let i = 0; i < b.n; i++)
      for (let j = 0; j < dim; j++) {
        const x = v[i * dim + j];
        sum[j] += x;
        sumSq[j] += x * x;
      }
    n += b.n;
  }
  if (!sum || !sumSq || n === 0) throw new Error('no images to measure');
  const mean = Float32Array.from(sum, (s) => s / n);
  const std = Float32Array.from(sumSq, (q, j) => Math.max(1e-6, Math.sqrt(Math.max(0, q / n - mean[j] * mean[j]))));
  return { n, mean, std };
}

export function momentsOf(s: BnSums): { mean: Float32Array[]; variance: Float32Array[] } {
  const mean = s.sum.map((x) => Float32Array.from(x, (v) => v / s.n));
  const variance = s.sumSq.map((x, i) =>
    Float32Array.from(x, (q, c) => Math.max(0, q / s.n - mean[i][c] * mean[i][c])),
  );
  return { mean, variance };
}

/** Both measurements on the model as it is. */
export async function siteStatsOf(m: SuffixModel, batches: ActivationBatches): Promise<SiteStats> {
  const bn = await bnStatsOf(m, batches);
  const { mean, variance } = momentsOf(bn);
  const f = await featureStatsOf(m, batches);
  return { n: bn.n, layers: bn.layers, bnMean: mean, bnVar: variance, featMean: f.mean, featStd: f.std };
}

/** Flat float32: [n, layer count, per layer channel count, mean, var ..., feature dim, featMean, featStd]; layer names in metadata. */
export function encodeSiteStats(s: SiteStats): Uint8Array {
  const parts: number[][] = [[s.n, s.layers.length, ...s.bnMean.map((x) => x.length)]];
  const arrays: Float32Array[] = [Float32Array.from(parts[0])];
  s.bnMean.forEach((m, i) => arrays.push(m, s.bnVar[i]));
  arrays.push(Float32Array.of(s.featMean.length), s.featMean, s.featStd);
  const out = new Float32Array(arrays.reduce((a, x) => a + x.length, 0));
  let o = 0;
  for (const a of arrays) {
    out.set(a, o);
    o += a.length;
  }
  return new Uint8Array(out.buffer);
}

export function decodeSiteStats(bytes: Uint8Array, layers: string[]): SiteStats {
  const a = new Float32Array(bytes.slice().buffer);
  const n = a[0];
  const count = a[1];
  if (count !== layers.length)
    throw new Error(`site statistics hold ${count} BatchNorm layers, the model lists ${layers.length}`);
  const ch = Array.from(a.subarray(2, 2 + count));
  let o = 2 + count;
  const bnMean: Float32Array[] = [];
  const bnVar: Float32Array[] = [];
  for (const c of ch) {
    bnMean.push(a.slice(o, o + c));
    o += c;
    bnVar.push(a.slice(o, o + c));
    o += c;
  }
  const dim = a[o++];
  const featMean = a.slice(o, o + dim);
  const featStd = a.slice(o + dim, o + 2 * dim);
  if (o + 2 * dim !== a.length) throw new Error('site statistics: bad length');
  return { n, layers, bnMean, bnVar, featMean, featStd };
}
