import * as tf from '@tensorflow/tfjs';
import os from 'node:os';
import { learningRateAt } from '../model/train/lr.js';
import { seedFrom } from '../shared/sampling.js';
import { decodeHead, decodeNorm, encodeF64Pair, encodeHead, headBytes, standardise, stateId } from './codec.js';
import { memo, type TrainDeps } from './deps.js';
import { featuresForItems } from './features-s3.js';
import { enqueueMerge } from './jobs.js';
import { trainLayout } from './layout.js';
import { trainLocal } from './local-train.js';
import { putBytes, putJson, readSpec } from './run-io.js';
import { getBytesIfExists, getJsonIfExists } from '../shared/s3/objects.js';
import { shardsForEpoch } from './sharding.js';
import { staleReason } from './stale.js';
import { prepareShard, trainShard } from './finetune/ft-shard.js';
import type { ShardJobData, ShardResult, TrainRunSpec } from './types.js';
import { STRONG_BASE } from '../model/train/variants.js';

export const copiesOf = (spec: TrainRunSpec) => Array.from({ length: spec.recipe.augmentCopies + 1 }, (_, c) => c);

/**
 * The image variants (variants.ts) a shard uses in round `epoch`. Mild (and runs from before the
 * option): copies 0..augmentCopies, one drawn per image and round. Strong fine-tuning: round 0 reads
 * the stored images only, round E >= 1 trains on strong draw E, a fresh one every round. Strong
 * head-only training: the stored image and draws 1..augmentCopies.
 */
export function roundCopies(spec: TrainRunSpec, epoch: number): number[] {
  if (spec.recipe.augment !== 'strong') return copiesOf(spec);
  if (isFinetune(spec)) return epoch === 0 ? [0] : [STRONG_BASE + epoch];
  return copiesOf(spec).map((c) => (c === 0 ? 0 : STRONG_BASE + c));
}

/** auto: n / (2 n_class) over the whole training set, so every shard weighs classes alike. */
export function classWeightOf(spec: TrainRunSpec): [number, number] {
  if (spec.recipe.classWeights === 'none') return [1, 1];
  const n = spec.train.length;
  const pos = spec.train.filter((i) => i.label === 1).length;
  return [n / (2 * (n - pos)), n / (2 * pos)];
}

export const specOf = (d: TrainDeps, data: { runId: string; out: ShardJobData['out'] }) =>
  memo(d, `spec:${data.runId}`, () => readSpec(d.s3, data.out, data.runId));

/** Id of the global state a round starts from ('' for round 0). */
export async function baseOf(
  d: TrainDeps,
  data: { runId: string; out: ShardJobData['out'] },
  epoch: number,
): Promise<{ id: string; bytes?: Uint8Array }> {
  if (epoch === 0) return { id: '' };
  const l = trainLayout(data.out, data.runId);
  const bytes = await getBytesIfExists(d.s3, l.bucket, l.epochState(epoch - 1));
  if (!bytes)
    throw new Error(
      `round ${epoch}: global state of epoch ${epoch - 1} is missing (s3://${l.bucket}/${l.epochState(epoch - 1)})`,
    );
  return { id: stateId(bytes), bytes };
}

/**
 * One shard of one round. Round 0 computes the shard's features and their column sums (for the
 * global standardisation); later rounds train the head locally from the previous round's global
 * state. Writes shard-S.bin then shard-S.json; when the last shard of the round finishes, enqueues
 * the round's merge. A valid result already in S3 is reused.
 */
export async function runShard(d: TrainDeps, data: ShardJobData): Promise<ShardResult> {
  const started = Date.now();
  const spec = await specOf(d, data);
  const l = trainLayout(data.out, data.runId);
  const log = d.logger.child({ runId: data.runId, epoch: data.epoch, shard: data.shard });
  const base = await baseOf(d, data, data.epoch);
  const want = { runId: data.runId, epoch: data.epoch, shard: data.shard, shards: data.shards, base: base.id };
  const existing = await getJsonIfExists<ShardResult>(d.s3, l.bucket, l.shardJson(data.epoch, data.shard));
  let result: ShardResult;
  if (
    existing &&
    staleReason(existing, want) === null &&
    (await getBytesIfExists(d.s3, l.bucket, l.shardBin(data.epoch, data.shard)))
  ) {
    log.info('shard result already in S3; reused');
    result = existing;
  } else {
    const items = shardsForEpoch(spec.train, data.shards, spec.seed, data.epoch)[data.shard];
    const fd = { ...d.features, s3: d.s3, logger: log };
    let bin: Uint8Array;
    let stats = {
      vectors: items.length,
      samples: items.length,
      lossSum: 0,
      correct: 0,
      featureSeconds: 0,
      extracted: 0,
    };
    if (isFinetune(spec)) {
      if (data.epoch === 0 && spec.recipe.initFrom) {
        bin = new Uint8Array(0); // a warm start: the merge reads the initial model; nothing to measure per shard
      } else if (data.epoch === 0) {
        const r = await prepareShard(fd, spec, items, roundCopies(spec, 0), log);
        bin = r.bin;
        stats = { ...stats, featureSeconds: r.featureSeconds, extracted: r.extracted };
      } else {
        const r = await trainShard(
          fd,
          spec,
          data,
          items,
          roundCopies(spec, data.epoch),
          base.bytes!,
          await normOf(d, l, data.runId),
          log,
        );
        bin = r.bin;
        stats = {
          ...stats,
          samples: r.samples,
          lossSum: r.lossSum,
          correct: r.correct,
          featureSeconds: r.featureSeconds,
          extracted: r.extracted,
        };
      }
    } else {
      const f = await featuresForItems(fd, spec.data.bucket, items, roundCopies(spec, data.epoch));
      stats = { ...stats, vectors: f.set.n, samples: f.set.n, featureSeconds: f.seconds, extracted: f.extracted };
      if (data.epoch === 0) {
        const sum = new Float64Array(f.set.dim);
        const sumSq = new Float64Array(f.set.dim);
        for (let i = 0; i < f.set.n; i++)
          for (let j = 0; j < f.set.dim; j++) {
            const v = f.set.x[i * f.set.dim + j];
            sum[j] += v;
            sumSq[j] += v * v;
          }
        bin = encodeF64Pair(sum, sumSq);
      } else {
        const norm = await normOf(d, l, data.runId);
        if (tf.getBackend() !== 'cpu') await tf.setBackend('cpu'); // a 2048->1 layer: pure JS has every gradient
        const out = trainLocal(
          standardise(f.set, norm.mean, norm.std),
          decodeHead(base.bytes!),
          recipeLocal(spec, data),
        );
        stats = { ...stats, samples: out.samples, lossSum: out.lossSum, correct: out.correct };
        bin = encodeHead(out.kernel, out.bias);
        if (bin.byteLength !== headBytes()) throw new Error('bad head size');
      }
    }
    result = {
      ...want,
      ...stats,
      seconds: (Date.now() - started) / 1000,
      host: os.hostname(),
      pid: process.pid,
      finishedAt: new Date().toISOString(),
    };
    await putBytes(d.s3, l.bucket, l.shardBin(data.epoch, data.shard), bin);
    await putJson(d.s3, l.bucket, l.shardJson(data.epoch, data.shard), result);
    log.info(
      {
        vectors: result.vectors,
        samples: result.samples,
        loss: result.lossSum / Math.max(1, result.samples),
        extracted: result.extracted,
        seconds: result.seconds,
      },
      'shard done',
    );
  }
  const done = await d.rounds.markShardDone(data.runId, data.epoch, data.shard);
  if (done >= data.shards)
    await enqueueMerge(d.queue, { runId: data.runId, out: data.out, epoch: data.epoch, shards: data.shards });
  return result;
}

/** A run that fine-tunes backbone stages (recipe trainFrom conv5/conv4/all) rather than the head alone. */
export const isFinetune = (spec: TrainRunSpec): boolean => !!spec.recipe.trainFrom && spec.recipe.trainFrom !== 'head';

/** The run's feature standardisation (norm.bin, written by the round-0 merge). */
export async function normOf(
  d: TrainDeps,
  l: ReturnType<typeof trainLayout>,
  runId: string,
): Promise<{ mean: Float32Array; std: Float32Array }> {
  const normBytes = await getBytesIfExists(d.s3, l.bucket, l.norm);
  if (!normBytes) throw new Error(`run ${runId}: norm.bin missing`);
  return decodeNorm(normBytes);
}

/** The recipe's settings for this round's local training. */
export function recipeLocal(spec: TrainRunSpec, data: ShardJobData) {
  const r = spec.recipe;
  return {
    optimizer: r.optimizer,
    batchSize: r.batchSize,
    clipNorm: r.clipNorm,
    weightDecay: r.weightDecay,
    dropout: r.dropout,
    lr: learningRateAt(r.lrSchedule, r.lr, data.epoch - 1, r.epochs),
    seed: seedFrom('local', spec.seed, data.epoch, data.shard),
    passes: spec.localEpochs,
    classWeight: classWeightOf(spec),
  };
}
