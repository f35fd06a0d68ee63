import * as tf from '@tensorflow/tfjs';
import { shuffled } from '../../shared/sampling.js';
import type { OptimizerName } from './options.js';

/** What one pass of minibatch updates needs to know about the recipe. */
export interface StepConfig {
  batchSize: number;
  clipNorm: number;
  weightDecay: number;
  dropout: number;
  classWeight: [number, number];
}

/** Standardised features with binary labels, row-major. */
export interface PassData {
  x: Float32Array;
  y: Uint8Array;
  n: number;
  dim: number;
}

export interface PassResult {
  /** Sum over samples of the batch loss (weighted BCE + weight decay) times batch size. */
  lossSum: number;
  /** Samples whose prediction just before their batch's update was right at 0.5. */
  correct: number;
  samples: number;
}

export function makeOptimizer(name: OptimizerName, lr: number): tf.Optimizer {
  if (name === 'adam') return tf.train.adam(lr);
  if (name === 'rmsprop') return tf.train.rmsprop(lr);
  return tf.train.momentum(lr, 0.9);
}

/** Numerically stable binary cross-entropy on logits, weighted per sample (weighted mean). */
export function weightedBce(logits: tf.Tensor, y: tf.Tensor, w: tf.Tensor): tf.Scalar {
  const l = tf.add(tf.sub(tf.relu(logits), tf.mul(logits, y)), tf.log(tf.add(1, tf.exp(tf.neg(tf.abs(logits))))));
  return tf.div(tf.sum(tf.mul(l, w)), tf.sum(w)) as tf.Scalar;
}

/**
 * One shuffled pass of minibatch updates of the linear head (w, b): dropout on the inputs, class-weighted
 * BCE, L2 weight decay, optional global-norm clipping. The one training step shared by single-process
 * training and shard jobs.
 */
export function trainPass(
  data: PassData,
  w: tf.Variable,
  b: tf.Variable,
  opt: tf.Optimizer,
  cfg: StepConfig,
  rand: () => number,
): PassResult {
  const order = shuffled(
    Array.from({ length: data.n }, (_, i) => i),
    rand,
  );
  let lossSum = 0;
  let correct = 0;
  for (let s = 0; s < data.n; s += cfg.batchSize) {
    const idx = order.slice(s, s + cfg.batchSize);
    const xb = new Float32Array(idx.length * data.dim);
    const yb = new Float32Array(idx.length);
    const wb = new Float32Array(idx.length);
    idx.forEach((r, k) => {
      xb.set(data.x.subarray(r * data.dim, (r + 1) * data.dim), k * data.dim);
      yb[k] = data.y[r];
      wb[k] = cfg.classWeight[data.y[r]];
    });
    const stepSeed = Math.floor(rand() * 2 ** 31);
    tf.tidy(() => {
      const x = tf.tensor2d(xb, [idx.length, data.dim]);
      const y = tf.tensor2d(yb, [idx.length, 1]);
      const sw = tf.tensor2d(wb, [idx.length, 1]);
      tf.add(tf.matMul(x, w), b)
        .dataSync()
        .forEach((z, k) => {
          if ((z >= 0 ? 1 : 0) === yb[k]) correct++;
        });
      const { value, grads } = tf.variableGrads(() => {
        const xd = cfg.dropout > 0 ? tf.dropout(x, cfg.dropout, undefined, stepSeed) : x;
        const loss = weightedBce(tf.add(tf.matMul(xd, w), b), y, sw);
        return cfg.weightDecay > 0 ? (tf.add(loss, tf.mul(cfg.weightDecay, tf.sum(tf.square(w)))) as tf.Scalar) : loss;
      }, [w, b]);
      let g = grads;
      if (cfg.clipNorm > 0) {
        const norm = Math.sqrt(Object.values(grads).reduce((acc, t) => acc + tf.sum(tf.square(t)).dataSync()[0], 0));
        if (norm > cfg.clipNorm)
          g = Object.fromEntries(Object.entries(grads).map(([k, t]) => [k, tf.mul(t, cfg.clipNorm / norm)]));
      }
      opt.applyGradients(g);
      lossSum += value.dataSync()[0] * idx.length;
    });
  }
  return { lossSum, correct, samples: data.n };
}
