import * as tf from '@tensorflow/tfjs';
import { weightedBce, type StepConfig } from '../train/head-step.js';
import type { SuffixModel } from './suffix-model.js';

/** The head sees standardised GAP features: (f - mean) / std, fixed for the run (folded into the Dense on export). */
export interface FeatureNorm {
  mean: Float32Array;
  std: Float32Array;
}

export interface StepResult {
  lossSum: number;
  correct: number;
  samples: number;
}

/** Standardised features -> logits through the head Dense's kernel and bias (no sigmoid). */
function logits(
  m: SuffixModel,
  feats: tf.Tensor2D,
  norm: { mean: tf.Tensor; std: tf.Tensor },
  dropout: number,
  seed: number,
): tf.Tensor2D {
  const [kernel, bias] = m.dense.trainableWeights.map((w) => w.read());
  let f = tf.div(tf.sub(feats, norm.mean), norm.std) as tf.Tensor2D;
  if (dropout > 0) f = tf.dropout(f, dropout, undefined, seed) as tf.Tensor2D;
  return tf.add(tf.matMul(f, kernel as tf.Tensor2D), bias) as tf.Tensor2D;
}

/**
 * One minibatch update of the suffix and head: BatchNorm layers normalise with their frozen moving
 * statistics (gamma and beta train), dropout on the standardised GAP features, class-weighted BCE (on
 * smoothed labels when cfg.labelSmoothing > 0) plus
 * L2 weight decay on every kernel, optional global-norm clipping.
 */
export function finetuneStep(
  m: SuffixModel,
  opt: tf.Optimizer,
  norm: { mean: tf.Tensor; std: tf.Tensor },
  cfg: StepConfig & { labelSmoothing?: number },
  x: Float32Array,
  y: Uint8Array,
  n: number,
  seed: number,
): StepResult {
  const inShape = m.gap.inputs[0].shape.slice(1) as number[];
  const trainable = m.full.trainableWeights;
  const vars = trainable.map((w) => w.read() as tf.Variable);
  const kernels = trainable.filter((w) => w.originalName.endsWith('kernel')).map((w) => w.read());
  let correct = 0;
  let loss = 0;
  tf.tidy(() => {
    const xb = tf.tensor4d(x, [n, ...inShape] as [number, number, number, number]);
    // Label smoothing: targets e/2 and 1 - e/2, so the loss is smallest at a finite logit.
    const e = cfg.labelSmoothing ?? 0;
    const yb = tf.tensor2d(
      Float32Array.from(y, (v) => v * (1 - e) + e / 2),
      [n, 1],
    );
    const wb = tf.tensor2d(
      Float32Array.from(y, (v) => cfg.classWeight[v]),
      [n, 1],
    );
    let z: tf.Tensor | undefined;
    const { value, grads } = tf.variableGrads(() => {
      const zz = logits(m, m.gap.apply(xb) as tf.Tensor2D, norm, cfg.dropout, seed);
      z = tf.keep(zz);
      const l = weightedBce(zz, yb, wb);
      if (cfg.weightDecay <= 0) return l;
      return tf.add(l, tf.mul(cfg.weightDecay, tf.addN(kernels.map((k) => tf.sum(tf.square(k)))))) as tf.Scalar;
    }, vars);
    let g = grads;
    if (cfg.clipNorm > 0) {
      const total = Math.sqrt(tf.addN(Object.values(grads).map((t) => tf.sum(tf.square(t)))).dataSync()[0]);
      if (total > cfg.clipNorm)
        g = Object.fromEntries(Object.entries(grads).map(([k, t]) => [k, tf.mul(t, cfg.clipNorm / total)]));
    }
    opt.applyGradients(g);
    (z!.dataSync() as Float32Array).forEach((v, k) => {
      if ((v >= 0 ? 1 : 0) === y[k]) correct++;
    });
    z!.dispose();
    loss = value.dataSync()[0];
  });
  return { lossSum: loss * n, correct, samples: n };
}

/** P(PNEUMONIA) for a batch of prefix activations, BatchNorm in inference mode, no dropout. */
export function predictBatch(
  m: SuffixModel,
  norm: { mean: tf.Tensor; std: tf.Tensor },
  x: Float32Array,
  n: number,
): Float32Array {
  return Float32Array.from(logitBatch(m, norm, x, n), (z) => 1 / (1 + Math.exp(-z)));
}

export const normTensors = (n: FeatureNorm): { mean: tf.Tensor; std: tf.Tensor } => ({
  mean: tf.tensor1d(n.mean),
  std: tf.tensor1d(n.std),
});

/** The head's logits for a batch of prefix activations (BatchNorm in inference mode): unsaturated, for temperature fitting. */
export function logitBatch(
  m: SuffixModel,
  norm: { mean: tf.Tensor; std: tf.Tensor },
  x: Float32Array,
  n: number,
): Float32Array {
  const inShape = m.gap.inputs[0].shape.slice(1) as number[];
  const z = tf.tidy(() =>
    logits(
      m,
      m.gap.predict(tf.tensor4d(x, [n, ...inShape] as [number, number, number, number])) as tf.Tensor2D,
      norm,
      0,
      0,
    ),
  );
  const out = Float32Array.from(z.dataSync() as Float32Array);
  z.dispose();
  return out;
}
