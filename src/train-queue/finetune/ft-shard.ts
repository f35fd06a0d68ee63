import * as tf from '@tensorflow/tfjs';
import { accumulateBnStats, emptyBnSums, encodeBnSums } from '../../model/finetune/bn-stats.js';
import { finetuneStep, normTensors, type FeatureNorm } from '../../model/finetune/finetune-step.js';
import {
  assignWeights,
  buildSuffixModel,
  disposeSuffix,
  flattenWeights,
  type SuffixModel,
} from '../../model/finetune/suffix-model.js';
import { ensureTrainingBackend } from '../../model/finetune/training-backend.js';
import { PREFIX_TOP, type TrainFrom } from '../../model/resnet50.js';
import { makeOptimizer } from '../../model/train/head-step.js';
import { learningRateWithWarmup } from '../../model/train/lr.js';
import { decodeArtifactWeights, setWeightsByName } from '../../model/weights.js';
import { readModelDir } from '../../model/io/fs-io.js';
import { seededRandom, seedFrom, shuffled } from '../../shared/sampling.js';
import { FEATURE_DIM } from '../../model/train/features.js';
import type { Logger } from '../../shared/logger.js';
import { bytesF32, encodeFeatureSet, f32Bytes, packParts } from '../codec.js';
import type { FeatureDeps } from '../features-s3.js';
import type { ShardJobData, TrainItem, TrainRunSpec } from '../types.js';
import { activationsForItems, dropActivations, readActivationBatch } from './activations-s3.js';
import { STRONG_BASE } from '../../model/train/variants.js';

export const trainFromOf = (spec: TrainRunSpec): TrainFrom => {
  const t = spec.recipe.trainFrom;
  if (!t || t === 'head') throw new Error(`run ${spec.runId} does not fine-tune the backbone`);
  return t;
};
export const prefixLayerOf = (spec: TrainRunSpec) => {
  const layer = PREFIX_TOP[trainFromOf(spec)];
  if (!layer) throw new Error('--train-from all needs the whole image pipeline in TF.js; use conv5 or conv4 here');
  return layer;
};

/** The suffix with the verified ImageNet weights (head left at its initial values). */
export async function imagenetSuffix(
  d: { backboneDir: () => Promise<string> },
  trainFrom: TrainFrom,
): Promise<SuffixModel> {
  const m = buildSuffixModel(trainFrom);
  const weights = decodeArtifactWeights(await readModelDir(await d.backboneDir()));
  try {
    setWeightsByName(m.gap, weights);
  } finally {
    tf.dispose(Object.values(weights));
  }
  return m;
}

const BATCH_STATS = 32;

/**
 * Round 0 of a fine-tune: fills the activation caches of the shard (every copy), then one AdaBN pass
 * over its clean images: the per-layer BatchNorm sums and the GAP features under batch statistics.
 */
export async function prepareShard(
  fd: FeatureDeps,
  spec: TrainRunSpec,
  items: readonly TrainItem[],
  copies: number[],
  log: Logger,
) {
  const layer = prefixLayerOf(spec);
  const acts = await activationsForItems(fd, spec.data.bucket, items, copies, layer);
  await ensureTrainingBackend(log);
  const m = await imagenetSuffix(fd, trainFromOf(spec));
  try {
    const sums = emptyBnSums(m);
    const x = new Float32Array(items.length * FEATURE_DIM);
    for (let i = 0; i < items.length; i += BATCH_STATS) {
      const batch = items.slice(i, i + BATCH_STATS);
      const input = await readActivationBatch(
        fd,
        layer,
        batch.map((it) => ({ sha: acts.sha.get(it)!, copy: 0 })),
      );
      const t = tf.tensor4d(input, [batch.length, ...m.gap.inputs[0].shape.slice(1)] as [
        number,
        number,
        number,
        number,
      ]);
      x.set(accumulateBnStats(m, t, sums), i * FEATURE_DIM);
      t.dispose();
    }
    const set = { x, y: Uint8Array.from(items, (it) => it.label), n: items.length, dim: FEATURE_DIM };
    return {
      bin: packParts([encodeBnSums(sums), encodeFeatureSet(set)]),
      extracted: acts.extracted,
      featureSeconds: acts.seconds,
      vectors: items.length,
    };
  } finally {
    disposeSuffix(m);
  }
}

export interface LocalFinetuneConfig {
  lr: number;
  batchSize: number;
  clipNorm: number;
  weightDecay: number;
  dropout: number;
  seed: number;
  passes: number;
  labelSmoothing: number;
  classWeight: [number, number];
  optimizer: TrainRunSpec['recipe']['optimizer'];
}

/** The recipe's settings for this round's local fine-tuning. */
export function finetuneConfig(spec: TrainRunSpec, epoch: number, shard: number): LocalFinetuneConfig {
  const r = spec.recipe;
  const n = spec.train.length;
  const pos = spec.train.filter((i) => i.label === 1).length;
  return {
    lr: learningRateWithWarmup(r.lrSchedule, r.lr, epoch - 1, r.epochs, r.warmupEpochs ?? 0),
    batchSize: r.batchSize,
    clipNorm: r.clipNorm,
    weightDecay: r.weightDecay,
    dropout: r.dropout,
    optimizer: r.optimizer,
    seed: seedFrom('finetune', spec.seed, epoch, shard),
    passes: spec.localEpochs,
    labelSmoothing: r.labelSmoothing ?? 0,
    classWeight: r.classWeights === 'none' ? [1, 1] : [n / (2 * (n - pos)), n / (2 * pos)],
  };
}

/**
 * Rounds >= 1: trains the suffix and head on the shard from the global state, each image as one of its
 * augmentation copies drawn per round, with a fresh optimizer. Returns every weight, flattened. The
 * strong draws of earlier rounds are dropped from this host's cache for the shard's images.
 */
export async function trainShard(
  fd: FeatureDeps,
  spec: TrainRunSpec,
  data: ShardJobData,
  items: readonly TrainItem[],
  copies: number[],
  base: Uint8Array,
  norm: FeatureNorm,
  log: Logger,
) {
  const layer = prefixLayerOf(spec);
  const acts = await activationsForItems(fd, spec.data.bucket, items, copies, layer);
  await dropActivations(
    fd,
    items.map((it) => acts.sha.get(it)!),
    earlierDraws(spec, data.epoch),
    layer,
  );
  await ensureTrainingBackend(log);
  const cfg = finetuneConfig(spec, data.epoch, data.shard);
  const m = buildSuffixModel(trainFromOf(spec));
  const nt = normTensors(norm);
  const opt = makeOptimizer(cfg.optimizer, cfg.lr);
  const rand = seededRandom(cfg.seed);
  const started = Date.now();
  let lossSum = 0;
  let correct = 0;
  let samples = 0;
  let lastLog = Date.now();
  try {
    assignWeights(m, bytesF32(base));
    for (let p = 0; p < cfg.passes; p++) {
      const order = shuffled(items, rand);
      for (let i = 0; i < order.length; i += cfg.batchSize) {
        const batch = order.slice(i, i + cfg.batchSize);
        const x = await readActivationBatch(
          fd,
          layer,
          batch.map((it) => ({ sha: acts.sha.get(it)!, copy: copies[Math.floor(rand() * copies.length)] })),
        );
        const r = finetuneStep(
          m,
          opt,
          nt,
          cfg,
          x,
          Uint8Array.from(batch, (it) => it.label),
          batch.length,
          Math.floor(rand() * 2 ** 31),
        );
        lossSum += r.lossSum;
        correct += r.correct;
        samples += r.samples;
        if (Date.now() - lastLog > 60_000) {
          lastLog = Date.now();
          log.info(
            {
              done: samples,
              of: items.length * cfg.passes,
              loss: lossSum / samples,
              imgPerSec: +(samples / ((Date.now() - started) / 1000)).toFixed(2),
            },
            'fine-tuning',
          );
        }
      }
    }
    return {
      bin: f32Bytes(flattenWeights(m)),
      lossSum,
      correct,
      samples,
      extracted: acts.extracted,
      featureSeconds: acts.seconds,
      trainImagesPerSec: samples / ((Date.now() - started) / 1000),
    };
  } finally {
    opt.dispose();
    tf.dispose([nt.mean, nt.std]);
    disposeSuffix(m);
  }
}

/**
 * The strong draws of a run's rounds before `epoch`: once round epoch - 1 is merged nobody reads them. A
 * shard cannot drop its own round's draw: an image with a byte-identical twin in another shard shares it.
 */
export const earlierDraws = (spec: TrainRunSpec, epoch: number): number[] =>
  spec.recipe.augment === 'strong' ? Array.from({ length: Math.max(0, epoch - 1) }, (_, k) => STRONG_BASE + k + 1) : [];
