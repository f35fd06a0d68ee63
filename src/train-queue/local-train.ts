import * as tf from '@tensorflow/tfjs';
import type { FeatureSet, HeadTrainConfig } from '../model/train/head-train.js';
import { seededRandom, shuffled } from '../shared/sampling.js';

export type LocalTrainConfig = Pick<HeadTrainConfig, 'optimizer' | 'batchSize' | 'clipNorm' | 'weightDecay' | 'dropout'> & {
  lr: number;
  seed: number;
  /** Passes over the shard in this round. */
  passes: number;
  classWeight: [number, number];
};

export interface LocalTrainResult {
  kernel: Float32Array;
  bias: number;
  samples: number;
  lossSum: number;
  correct: number;
}

function makeOptimizer(name: LocalTrainConfig['optimizer'], lr: number): tf.Optimizer {
  if (name === 'adam') return tf.train.adam(lr);
  if (name === 'rmsprop') return tf.train.rmsprop(lr);
  return tf.train.momentum(lr, 0.9);
}

/** Class-weighted binary cross-entropy on logits, summed (not averaged). */
function bceSum(logits: tf.Tensor, y: tf.Tensor, w: tf.Tensor): tf.Scalar {
  const l = tf.add(tf.sub(tf.relu(logits), tf.mul(logits, y)), tf.log(tf.add(1, tf.exp(tf.neg(tf.abs(logits))))));
  return tf.sum(tf.mul(l, w)) as tf.Scalar;
}

/**
 * One round of local training on a shard (standardised features), starting from the global weights:
 * the same step as trainHead (dropout on inputs, weighted BCE, L2 weight decay, global-norm clipping,
 * adam/sgd-momentum/rmsprop), with a fresh optimizer each round. Reports the running loss and the
 * accuracy of each batch's predictions just before its update, like Keras' training metrics.
 */
export function trainLocal(set: FeatureSet, init: { kernel: Float32Array; bias: number }, cfg: LocalTrainConfig): LocalTrainResult {
  const rand = seededRandom(cfg.seed);
  const w = tf.variable(tf.tensor2d(init.kernel, [set.dim, 1]), true);
  const b = tf.variable(tf.tensor1d([init.bias]), true);
  const opt = makeOptimizer(cfg.optimizer, cfg.lr);
  let lossSum = 0;
  let correct = 0;
  let samples = 0;
  try {
    for (let p = 0; p < cfg.passes; p++) {
      const order = shuffled(Array.from({ length: set.n }, (_, i) => i), rand);
      for (let s = 0; s < set.n; s += cfg.batchSize) {
        const idx = order.slice(s, s + cfg.batchSize);
        const xb = new Float32Array(idx.length * set.dim);
        const yb = new Float32Array(idx.length);
        const wb = new Float32Array(idx.length);
        idx.forEach((r, k) => { xb.set(set.x.subarray(r * set.dim, (r + 1) * set.dim), k * set.dim); yb[k] = set.y[r]; wb[k] = cfg.classWeight[set.y[r]]; });
        const stepSeed = Math.floor(rand() * 2 ** 31);
        tf.tidy(() => {
          const x = tf.tensor2d(xb, [idx.length, set.dim]);
          const y = tf.tensor2d(yb, [idx.length, 1]);
          const sw = tf.tensor2d(wb, [idx.length, 1]);
          const before = tf.add(tf.matMul(x, w), b).dataSync();
          before.forEach((z, k) => { if ((z >= 0 ? 1 : 0) === yb[k]) correct++; });
          const { value, grads } = tf.variableGrads(() => {
            const xd = cfg.dropout > 0 ? tf.dropout(x, cfg.dropout, undefined, stepSeed) : x;
            const data = tf.div(bceSum(tf.add(tf.matMul(xd, w), b), y, sw), tf.sum(sw)) as tf.Scalar;
            return cfg.weightDecay > 0 ? tf.add(data, tf.mul(cfg.weightDecay, tf.sum(tf.square(w)))) as tf.Scalar : data;
          }, [w, b]);
          let g = grads;
          if (cfg.clipNorm > 0) {
            const norm = Math.sqrt(Object.values(grads).reduce((acc, t) => acc + tf.sum(tf.square(t)).dataSync()[0], 0));
            if (norm > cfg.clipNorm) g = Object.fromEntries(Object.entries(grads).map(([k, t]) => [k, tf.mul(t, cfg.clipNorm / norm)]));
          }
          opt.applyGradients(g);
          lossSum += value.dataSync()[0] * idx.length;
        });
        samples += idx.length;
      }
    }
    return { kernel: new Float32Array(w.dataSync()), bias: b.dataSync()[0], samples, lossSum, correct };
  } finally {
    tf.dispose([w, b]);
    opt.dispose();
  }
}

/** Mean (unweighted) BCE and accuracy at 0.5 of a linear head on a feature set; scores too. Pure JS. */
export function evaluateHead(set: FeatureSet, kernel: Float32Array, bias: number): { loss: number; accuracy: number; scores: Float32Array } {
  const scores = new Float32Array(set.n);
  let loss = 0;
  let correct = 0;
  for (let i = 0; i < set.n; i++) {
    let z = bias;
    for (let j = 0; j < set.dim; j++) z += set.x[i * set.dim + j] * kernel[j];
    const y = set.y[i];
    loss += Math.max(z, 0) - z * y + Math.log1p(Math.exp(-Math.abs(z)));
    scores[i] = 1 / (1 + Math.exp(-z));
    if ((z >= 0 ? 1 : 0) === y) correct++;
  }
  return { loss: loss / Math.max(1, set.n), accuracy: correct / Math.max(1, set.n), scores };
}

/** trainHead's initial weights: N(0, 0.01) seeded, zero bias. */
export function initialHead(dim: number, seed: number): { kernel: Float32Array; bias: number } {
  const t = tf.randomNormal([dim, 1], 0, 0.01, 'float32', seed);
  const kernel = new Float32Array(t.dataSync());
  t.dispose();
  return { kernel, bias: 0 };
}
