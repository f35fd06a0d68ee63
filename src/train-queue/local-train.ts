import * as tf from '@tensorflow/tfjs';
import type { FeatureSet, HeadTrainConfig } from '../model/train/head-train.js';
import { seededRandom } from '../shared/sampling.js';
import { makeOptimizer, trainPass } from '../model/train/head-step.js';

export type LocalTrainConfig = Pick<
  HeadTrainConfig,
  'optimizer' | 'batchSize' | 'clipNorm' | 'weightDecay' | 'dropout'
> & {
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

/**
 * One round of local training on a shard (standardised features), starting from the global weights:
 * the same step as trainHead (dropout on inputs, weighted BCE, L2 weight decay, global-norm clipping,
 * adam/sgd-momentum/rmsprop), with a fresh optimizer each round. Reports the running loss and the
 * accuracy of each batch's predictions just before its update, like Keras' training metrics.
 */
export function trainLocal(
  set: FeatureSet,
  init: { kernel: Float32Array; bias: number },
  cfg: LocalTrainConfig,
): LocalTrainResult {
  const rand = seededRandom(cfg.seed);
  const w = tf.variable(tf.tensor2d(init.kernel, [set.dim, 1]), true);
  const b = tf.variable(tf.tensor1d([init.bias]), true);
  const opt = makeOptimizer(cfg.optimizer, cfg.lr);
  let lossSum = 0;
  let correct = 0;
  let samples = 0;
  try {
    for (let p = 0; p < cfg.passes; p++) {
      const r = trainPass(set, w, b, opt, cfg, rand);
      lossSum += r.lossSum;
      correct += r.correct;
      samples += r.samples;
    }
    return { kernel: new Float32Array(w.dataSync()), bias: b.dataSync()[0], samples, lossSum, correct };
  } finally {
    tf.dispose([w, b]);
    opt.dispose();
  }
}

/** Mean (unweighted) BCE and accuracy at 0.5 of a linear head on a feature set; scores too. Pure JS. */
export function evaluateHead(
  set: FeatureSet,
  kernel: Float32Array,
  bias: number,
): { loss: number; accuracy: number; scores: Float32Array } {
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
