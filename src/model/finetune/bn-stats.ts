import * as tf from '@tensorflow/tfjs';
import type { SuffixModel } from './suffix-model.js';

/** Per BatchNormalization layer: count and per-channel sums of batch means and of (variance + mean^2), float64. */
export interface BnSums {
  layers: string[];
  n: number;
  sum: Float64Array[];
  sumSq: Float64Array[];
}

export function emptyBnSums(m: SuffixModel): BnSums {
  const bns = m.gap.layers.filter((l) => l.getClassName() === 'BatchNormalization');
  const ch = (l: tf.layers.Layer) => l.getWeights()[0].shape[0] as number;
  return {
    layers: bns.map((l) => l.name),
    n: 0,
    sum: bns.map((l) => new Float64Array(ch(l))),
    sumSq: bns.map((l) => new Float64Array(ch(l))),
  };
}

/**
 * AdaBN: runs the GAP model over a batch with every BatchNormalization layer normalising by the batch's
 * own statistics (as in training mode, each layer seeing the previous ones re-normalised), adds each
 * layer's batch mean and second moment to `acc` weighted by the batch size, and returns the batch's GAP
 * features. Model weights are not changed.
 */
export function accumulateBnStats(m: SuffixModel, x: tf.Tensor4D, acc: BnSums): Float32Array {
  const n = x.shape[0];
  const feats = tf.tidy(() => {
    const values = new Map<string, tf.Tensor>();
    for (const layer of m.gap.layers) {
      const inbound = layer.inboundNodes[0].inboundLayers.map((l) => values.get(l.name)!);
      let y: tf.Tensor;
      if (layer.getClassName() === 'InputLayer') y = x;
      else if (layer.getClassName() === 'BatchNormalization') {
        const input = inbound[0];
        const { mean, variance } = tf.moments(input, [0, 1, 2]);
        const i = acc.layers.indexOf(layer.name);
        const mu = mean.dataSync() as Float32Array;
        const v = variance.dataSync() as Float32Array;
        for (let c = 0; c < mu.length; c++) {
          acc.sum[i][c] += n * mu[c];
          acc.sumSq[i][c] += n * (v[c] + mu[c] * mu[c]);
        }
        const [gamma, beta] = layer.getWeights();
        const eps = (layer.getConfig() as { epsilon: number }).epsilon;
        y = tf.batchNorm(input, mean, variance, beta, gamma, eps);
      } else y = layer.apply(inbound.length === 1 ? inbound[0] : inbound) as tf.Tensor;
      values.set(layer.name, y);
    }
    return values.get(m.gap.outputs[0].sourceLayer.name)!.clone();
  });
  acc.n += n;
  const out = feats.dataSync() as Float32Array;
  feats.dispose();
  return out;
}

/** Adds `b` into `a` (sums from several shards). */
export function addBnSums(a: BnSums, b: BnSums): BnSums {
  if (a.layers.join() !== b.layers.join()) throw new Error('BN statistics of different models');
  return {
    layers: a.layers,
    n: a.n + b.n,
    sum: a.sum.map((s, i) => s.map((v, c) => v + b.sum[i][c])),
    sumSq: a.sumSq.map((s, i) => s.map((v, c) => v + b.sumSq[i][c])),
  };
}

/** Writes the pooled mean and variance into each layer's moving statistics. */
export function setBnStats(m: SuffixModel, acc: BnSums): void {
  if (acc.n === 0) throw new Error('no images for BatchNorm statistics');
  acc.layers.forEach((name, i) => {
    const layer = m.gap.getLayer(name);
    const [gamma, beta] = layer.getWeights();
    const mean = Float32Array.from(acc.sum[i], (s) => s / acc.n);
    const variance = Float32Array.from(acc.sumSq[i], (q, c) => Math.max(0, q / acc.n - mean[c] * mean[c]));
    layer.setWeights([gamma, beta, tf.tensor1d(mean), tf.tensor1d(variance)]);
  });
}

/** Flat float64 encoding: [n, then per layer sum, sumSq]. */
export function encodeBnSums(a: BnSums): Uint8Array {
  const len = 1 + a.sum.reduce((s, x) => s + 2 * x.length, 0);
  const out = new Float64Array(len);
  out[0] = a.n;
  let o = 1;
  a.sum.forEach((s, i) => {
    out.set(s, o);
    o += s.length;
    out.set(a.sumSq[i], o);
    o += s.length;
  });
  return new Uint8Array(out.buffer);
}

export function decodeBnSums(bytes: Uint8Array, like: BnSums): BnSums {
  const a = new Float64Array(bytes.slice().buffer);
  const want = 1 + like.sum.reduce((s, x) => s + 2 * x.length, 0);
  if (a.length !== want) throw new Error(`BN statistics: ${a.length} values, expected ${want}`);
  let o = 1;
  const sum: Float64Array[] = [];
  const sumSq: Float64Array[] = [];
  for (const s of like.sum) {
    sum.push(a.slice(o, o + s.length));
    o += s.length;
    sumSq.push(a.slice(o, o + s.length));
    o += s.length;
  }
  return { layers: like.layers, n: a[0], sum, sumSq };
}
