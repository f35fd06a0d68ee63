import * as tf from '@tensorflow/tfjs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadFinetuned } from '../../model/finetune/adapt.js';
import { cachedS3Model } from '../../model/io/s3-io.js';
import { unfoldNorm } from '../../model/train/fold-norm.js';
import { STRESS_COPIES } from '../../model/train/variants.js';
import { addBnSums, decodeBnSums, emptyBnSums, setBnStats } from '../../model/finetune/bn-stats.js';
import { exportFinetunedModel, FINETUNE_FILES, readFeatureStats } from '../../model/finetune/export-finetuned.js';
import { normTensors, predictBatch, type FeatureNorm } from '../../model/finetune/finetune-step.js';
import {
  assignWeights,
  buildSuffixModel,
  disposeSuffix,
  flattenWeights,
  weightCount,
  type SuffixModel,
} from '../../model/finetune/suffix-model.js';
import { ensureTrainingBackend } from '../../model/finetune/training-backend.js';
import { FEATURE_DIM } from '../../model/train/features.js';
import type { FeatureSet } from '../../model/train/head-train.js';
import type { HeadMetadata } from '../../model/metadata.js';
import type { Logger } from '../../shared/logger.js';
import { averageVectors, combineStats } from '../averaging.js';
import { bytesF32, decodeFeatureSet, encodeNorm, f32Bytes, standardise, unpackParts } from '../codec.js';
import type { TrainDeps } from '../deps.js';
import type { TrainLayout } from '../layout.js';
import { trainLocal } from '../local-train.js';
import { putBytes } from '../run-io.js';
import { classWeightOf } from '../shard-job.js';
import type { ShardResult, TrainRunSpec } from '../types.js';
import { activationsForItems, dropActivations, mapActivations } from './activations-s3.js';
import { concatF32, evaluationSets, type EvaluationSet } from './evaluation-sets.js';
import { localImages } from '../features-s3.js';
import { earlierDraws, finetuneConfig, imagenetSuffix, prefixLayerOf, trainFromOf } from './ft-shard.js';

interface LoadedShard {
  result: ShardResult;
  bin: Uint8Array;
}

/** Passes of full-batch-ish logistic-regression warm start for the head, on standardised AdaBN features. */
const HEAD_WARM_START_PASSES = 30;

/**
 * Round-0 merge of a fine-tune: pooled BatchNorm statistics into the ImageNet suffix (AdaBN onto the
 * training X-rays), the GAP features' standardisation, and a head warm-started by logistic regression
 * on those features, so that fine-tuning starts from a sensible classifier. Writes norm.bin and epoch-0/state.bin.
 */
export async function prepareFinetune(
  d: TrainDeps,
  spec: TrainRunSpec,
  l: TrainLayout,
  shards: LoadedShard[],
  log: Logger,
) {
  await ensureTrainingBackend(log);
  const m = await imagenetSuffix(d.features, trainFromOf(spec));
  try {
    let sums = emptyBnSums(m);
    const sets: FeatureSet[] = [];
    for (const s of shards) {
      const [bn, feats] = unpackParts(s.bin);
      sums = addBnSums(sums, decodeBnSums(bn, sums));
      sets.push(decodeFeatureSet(feats));
    }
    setBnStats(m, sums);
    const n = sets.reduce((a, s) => a + s.n, 0);
    const all: FeatureSet = { n, dim: FEATURE_DIM, x: new Float32Array(n * FEATURE_DIM), y: new Uint8Array(n) };
    let row = 0;
    for (const s of sets) {
      all.x.set(s.x, row * FEATURE_DIM);
      all.y.set(s.y, row);
      row += s.n;
    }
    const sum = new Float64Array(FEATURE_DIM);
    const sumSq = new Float64Array(FEATURE_DIM);
    for (let i = 0; i < n; i++)
      for (let j = 0; j < FEATURE_DIM; j++) {
        const v = all.x[i * FEATURE_DIM + j];
        sum[j] += v;
        sumSq[j] += v * v;
      }
    const norm = combineStats([{ n, sum, sumSq }]);
    const cfg = finetuneConfig(spec, 1, 0);
    const head = trainLocal(
      standardise(all, norm.mean, norm.std),
      { kernel: new Float32Array(FEATURE_DIM), bias: 0 },
      {
        optimizer: 'adam',
        batchSize: 64,
        clipNorm: 0,
        weightDecay: spec.recipe.weightDecay,
        dropout: 0,
        lr: 1e-3,
        seed: cfg.seed,
        passes: HEAD_WARM_START_PASSES,
        classWeight: classWeightOf(spec),
      },
    );
    m.dense.setWeights([tf.tensor2d(head.kernel, [FEATURE_DIM, 1]), tf.tensor1d([head.bias])]);
    await putBytes(d.s3, l.bucket, l.norm, encodeNorm(norm.mean, norm.std));
    await putBytes(d.s3, l.bucket, l.epochState(0), f32Bytes(flattenWeights(m)));
    const val = await activationsForItems(
      { ...d.features, s3: d.s3, logger: log },
      spec.data.bucket,
      spec.val,
      valCopies(spec),
      prefixLayerOf(spec),
    );
    return {
      trainVectors: n,
      valVectors: spec.val.length,
      valExtracted: val.extracted,
      bnImages: sums.n,
      headWarmStartLoss: head.lossSum / head.samples,
    };
  } finally {
    disposeSuffix(m);
  }
}

const VAL_BATCH = 32;

const valCopies = (spec: TrainRunSpec): number[] => (spec.recipe.selectOn === 'stressed' ? [0, ...STRESS_COPIES] : [0]);

/**
 * Round-0 merge of a warm-started fine-tune (--init-from): the initial model's suffix and head, its
 * head un-folded back to standardised features with the model's own feature statistics (so dropout and
 * weight decay act as they did when it was trained), written as norm.bin and epoch-0/state.bin. The
 * validation variants' activations are computed here so that the first round's merge does not wait.
 */
export async function prepareFromInit(d: TrainDeps, spec: TrainRunSpec, l: TrainLayout, log: Logger) {
  await ensureTrainingBackend(log);
  const uri = spec.recipe.initFrom;
  const tmp = uri.startsWith('s3://') ? await mkdtemp(join(tmpdir(), 'cxr-init-')) : undefined;
  const dir = tmp ? await cachedS3Model(d.s3, uri.replace(/\/?$/, '/'), tmp) : uri;
  const f = await loadFinetuned(dir);
  try {
    if (f.model.trainFrom !== trainFromOf(spec))
      throw new Error(`--init-from ${uri} fine-tunes ${f.model.trainFrom}, the run trains from ${trainFromOf(spec)}`);
    const norm = await readFeatureStats(dir);
    const [kernelT, biasT] = f.model.dense.getWeights();
    const head = unfoldNorm(kernelT.dataSync() as Float32Array, biasT.dataSync()[0], norm.mean, norm.std);
    f.model.dense.setWeights([tf.tensor2d(head.kernel, [FEATURE_DIM, 1]), tf.tensor1d([head.bias])]);
    await putBytes(d.s3, l.bucket, l.norm, encodeNorm(norm.mean, norm.std));
    await putBytes(d.s3, l.bucket, l.epochState(0), f32Bytes(flattenWeights(f.model)));
    const val = await activationsForItems(
      { ...d.features, s3: d.s3, logger: log },
      spec.data.bucket,
      spec.val,
      valCopies(spec),
      prefixLayerOf(spec),
    );
    return {
      initFrom: uri,
      initModelId: f.meta.id,
      initVersion: f.meta.version,
      valVectors: spec.val.length,
      valExtracted: val.extracted,
    };
  } finally {
    disposeSuffix(f.model);
    if (tmp) await rm(tmp, { recursive: true, force: true });
  }
}

export interface ValidationScores {
  scores: Float32Array;
  truth: Uint8Array;
}

/**
 * Validation scores of a suffix model on this host's cached activations: the stored validation images,
 * and (for runs that select on it) the stressed validation, as evaluation-sets.ts defines both.
 */
async function validate(
  d: TrainDeps,
  spec: TrainRunSpec,
  m: SuffixModel,
  norm: FeatureNorm,
  log: Logger,
): Promise<{ clean: ValidationScores; stressed?: ValidationScores }> {
  const nt = normTensors(norm);
  const fd = { ...d.features, s3: d.s3, logger: log };
  const score = async (st: EvaluationSet): Promise<ValidationScores> => {
    const parts: Float32Array[] = [];
    for (const c of st.copies) {
      parts.push(
        await mapActivations(
          fd,
          spec.data.bucket,
          st.items,
          c,
          prefixLayerOf(spec),
          (x, n) => predictBatch(m, nt, x, n),
          VAL_BATCH,
        ),
      );
    }
    return { scores: concatF32(parts), truth: Uint8Array.from(st.truth) };
  };
  try {
    const [clean, stressed] = evaluationSets(spec);
    return spec.recipe.selectOn === 'stressed'
      ? { clean: await score(clean), stressed: await score(stressed) }
      : { clean: await score(clean) };
  } finally {
    tf.dispose([nt.mean, nt.std]);
  }
}

/** A merged fine-tune round: the averaged state, its validation scores, and how to export it as a model folder. */
export async function mergeFinetuneRound(
  d: TrainDeps,
  spec: TrainRunSpec,
  shards: LoadedShard[],
  norm: FeatureNorm,
  log: Logger,
) {
  await ensureTrainingBackend(log);
  const avg = averageVectors(shards.map((s) => ({ values: bytesF32(s.bin), samples: s.result.samples })));
  const m = buildSuffixModel(trainFromOf(spec));
  assignWeights(m, avg.values);
  const v = await validate(d, spec, m, norm, log);
  return {
    samples: avg.samples,
    state: f32Bytes(avg.values),
    val: v.clean,
    stressed: v.stressed,
    files: FINETUNE_FILES,
    exportTo: (bucket: string, prefix: string, e: Parameters<typeof exportFinetunedModel>[5]): Promise<HeadMetadata> =>
      exportFinetunedModel(d.s3, bucket, prefix, m, norm, e),
    dispose: () => disposeSuffix(m),
  };
}

/** Bytes of a round >= 1 shard result of this run's model. */
export const finetuneStateBytes = (spec: TrainRunSpec): number => {
  const m = buildSuffixModel(trainFromOf(spec));
  try {
    return weightCount(m) * 4;
  } finally {
    disposeSuffix(m);
  }
};

/**
 * When a strong-augmentation run stops, this host's cached draws of its rounds are no longer needed:
 * they are dropped (about 400 KiB per image and round at conv5). Hashes come from the local index.
 */
export async function dropRunDraws(d: TrainDeps, spec: TrainRunSpec, lastEpoch: number, log: Logger): Promise<void> {
  const draws = earlierDraws(spec, lastEpoch + 1);
  if (!draws.length) return;
  const local = await localImages(
    { ...d.features, s3: d.s3, logger: log },
    spec.data.bucket,
    spec.train,
    async () => false,
  );
  try {
    await dropActivations(d.features, [...new Set(local.sha.values())], draws, prefixLayerOf(spec));
  } finally {
    await local.cleanup();
  }
  log.info(
    { draws: draws.length, images: spec.train.length },
    "dropped the run's augmentation draws from this host's cache",
  );
}
