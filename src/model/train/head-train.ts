import * as tf from '@tensorflow/tfjs';
import type { Logger } from '../../shared/logger.js';
import { learningRateAt } from './lr.js';
import type { LrSchedule, OptimizerName } from './options.js';
import { seededRandom } from '../../shared/sampling.js';
import { makeOptimizer, trainPass, weightedBce } from './head-step.js';

/** Row-major feature matrix with binary labels. */
export interface FeatureSet {
  x: Float32Array;
  y: Uint8Array;
  n: number;
  dim: number;
}

export interface HeadTrainConfig {
  optimizer: OptimizerName;
  lr: number;
  batchSize: number;
  epochs: number;
  lrSchedule: LrSchedule;
  clipNorm: number;
  weightDecay: number;
  dropout: number;
  minEpochs: number;
  patience: number;
  classWeights: 'auto' | 'none';
  seed: number;
}

export interface EpochLog {
  epoch: number;
  lr: number;
  trainLoss: number;
  valLoss: number;
}

export interface HeadTrainResult {
  /** Dense weights on the raw (unstandardised) GAP features. */
  kernel: Float32Array;
  bias: number;
  history: EpochLog[];
  bestEpoch: number;
  epochsRun: number;
  seconds: number;
  samplesPerSec: number;
  classWeight: [number, number];
}

/** Per-column mean and std (std floored at 1e-6). */
export function columnStats(s: FeatureSet): { mean: Float32Array; std: Float32Array } {
  const mean = new Float64Array(s.dim);
  const sq = new Float64Array(s.dim);
  for (let i = 0; i < s.n; i++)
    for (let j = 0; j < s.dim; j++) {
      const v = s.x[i * s.dim + j];
      mean[j] += v;
      sq[j] += v * v;
    }
  const m = new Float32Array(s.dim);
  const sd = new Float32Array(s.dim);
  for (let j = 0; j < s.dim; j++) {
    m[j] = mean[j] / s.n;
    sd[j] = Math.max(1e-6, Math.sqrt(Math.max(0, sq[j] / s.n - m[j] * m[j])));
  }
  return { mean: m, std: sd };
}

function standardise(s: FeatureSet, mean: Float32Array, std: Float32Array): Float32Array {
  const out = new Float32Array(s.x.length);
  for (let i = 0; i < s.n; i++)
    for (let j = 0; j < s.dim; j++) out[i * s.dim + j] = (s.x[i * s.dim + j] - mean[j]) / std[j];
  return out;
}

function setLr(opt: tf.Optimizer, lr: number): void {
  const o = opt as unknown as { learningRate: number; setLearningRate?: (lr: number) => void };
  if (o.setLearningRate) o.setLearningRate(lr);
  else o.learningRate = lr;
}

/**
 * Trains logistic regression (the Dense(1, sigmoid) head) on cached GAP features with dropout on
 * the standardised inputs, L2 weight decay, optional global-norm clipping, an LR schedule, and early
 * stopping on validation loss (counted only from `minEpochs`). Returns the best weights, folded back
 * to raw-feature space so they drop straight into the head.
 */
export function trainHead(train: FeatureSet, val: FeatureSet, cfg: HeadTrainConfig, log?: Logger): HeadTrainResult {
  const started = Date.now();
  const { mean, std } = columnStats(train);
  const xt = standardise(train, mean, std);
  const xv = standardise(val, mean, std);
  const nPos = train.y.reduce((s, v) => s + v, 0);
  const classWeight: [number, number] =
    cfg.classWeights === 'auto' ? [train.n / (2 * (train.n - nPos)), train.n / (2 * nPos)] : [1, 1];
  const rand = seededRandom(cfg.seed);
  const w = tf.variable(tf.randomNormal([train.dim, 1], 0, 0.01, 'float32', cfg.seed), true, 'head_w');
  const b = tf.variable(tf.zeros([1]), true, 'head_b');
  const opt = makeOptimizer(cfg.optimizer, cfg.lr);
  const xvT = tf.tensor2d(xv, [val.n, val.dim]);
  const yvT = tf.tensor2d(Float32Array.from(val.y), [val.n, 1]);
  const onesV = tf.onesLike(yvT);
  const history: EpochLog[] = [];
  let best: { loss: number; epoch: number; w: Float32Array; b: number } = {
    loss: Infinity,
    epoch: -1,
    w: new Float32Array(0),
    b: 0,
  };
  let sinceBest = 0;
  let steps = 0;
  let epoch = 0;
  for (; epoch < cfg.epochs; epoch++) {
    const lr = learningRateAt(cfg.lrSchedule, cfg.lr, epoch, cfg.epochs);
    setLr(opt, lr);
    const pass = trainPass({ x: xt, y: train.y, n: train.n, dim: train.dim }, w, b, opt, { ...cfg, classWeight }, rand);
    const lossSum = pass.lossSum;
    steps += pass.samples;
    const valLoss = tf.tidy(() => weightedBce(tf.add(tf.matMul(xvT, w), b), yvT, onesV).dataSync()[0]);
    history.push({ epoch: epoch + 1, lr, trainLoss: lossSum / train.n, valLoss });
    log?.debug(history[history.length - 1], 'head epoch');
    if (epoch + 1 >= cfg.minEpochs) {
      if (valLoss < best.loss) {
        best = { loss: valLoss, epoch: epoch + 1, w: new Float32Array(w.dataSync()), b: b.dataSync()[0] };
        sinceBest = 0;
      } else if (++sinceBest >= cfg.patience) {
        epoch++;
        break;
      }
    }
  }
  if (best.epoch < 0) best = { loss: NaN, epoch, w: new Float32Array(w.dataSync()), b: b.dataSync()[0] };
  tf.dispose([w, b, xvT, yvT, onesV]);
  opt.dispose();
  const kernel = new Float32Array(train.dim);
  let bias = best.b;
  for (let j = 0; j < train.dim; j++) {
    kernel[j] = best.w[j] / std[j];
    bias -= (best.w[j] * mean[j]) / std[j];
  }
  const seconds = (Date.now() - started) / 1000;
  return {
    kernel,
    bias,
    history,
    bestEpoch: best.epoch,
    epochsRun: epoch,
    seconds,
    samplesPerSec: steps / seconds,
    classWeight,
  };
}

/** P(positive) for raw features with folded weights (pure JS). */
export function scoreFeatures(s: FeatureSet, kernel: Float32Array, bias: number): Float32Array {
  const out = new Float32Array(s.n);
  for (let i = 0; i < s.n; i++) {
    let z = bias;
    for (let j = 0; j < s.dim; j++) z += s.x[i * s.dim + j] * kernel[j];
    out[i] = 1 / (1 + Math.exp(-z));
  }
  return out;
}
