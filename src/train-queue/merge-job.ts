import { randomUUID } from 'node:crypto';
import os from 'node:os';
import { joinKey } from '../shared/s3/uri.js';
import { binaryMetrics, rocAuc } from '../shared/metrics.js';
import { getBytesIfExists, getJsonIfExists, putObject } from '../shared/s3/objects.js';
import { learningRateWithWarmup } from '../model/train/lr.js';
import type { HeadMetadata } from '../model/metadata.js';
import type { Logger } from '../shared/logger.js';
import {
  dropRunDraws,
  finetuneStateBytes,
  mergeFinetuneRound,
  prepareFinetune,
  prepareFromInit,
} from './finetune/ft-merge.js';
import { chooseThreshold } from '../model/train/threshold.js';
import type { FeatureSet } from '../model/train/head-train.js';
import { foldNorm } from '../model/train/fold-norm.js';
import { averageHeads, combineStats } from './averaging.js';
import {
  decodeF64Pair,
  decodeFeatureSet,
  decodeHead,
  encodeFeatureSet,
  encodeHead,
  encodeNorm,
  headBytes,
  standardise,
  stateId,
} from './codec.js';
import { curvesPng } from './curves.js';
import { memo, type TrainDeps } from './deps.js';
import { exportModel, MODEL_FILES } from './export-model.js';
import { featuresForItems } from './features-s3.js';
import { enqueueRound, reofferShard } from './jobs.js';
import { trainLayout, type TrainLayout } from './layout.js';
import { evaluateHead, initialHead } from './local-train.js';
import { putBytes, putJson, readHistory } from './run-io.js';
import { selectBest, shouldStopEarly } from './selection.js';
import { baseOf, classWeightOf, isFinetune, normOf, specOf } from './shard-job.js';
import { staleReason } from './stale.js';
import type { HistoryEntry, MergeJobData, RunStatusDoc, ShardResult, TrainRunSpec } from './types.js';

export interface MergeOutcome {
  epoch: number;
  skipped?: string;
  history?: HistoryEntry;
  bestEpoch?: number | null;
  stop?: boolean;
}

interface LoadedShard {
  result: ShardResult;
  bin: Uint8Array;
}

/** Every shard result of the round, or (after re-offering the bad ones) an error so BullMQ retries the merge. */
async function loadShards(
  d: TrainDeps,
  data: MergeJobData,
  l: TrainLayout,
  base: string,
  expectBytes: number | undefined,
): Promise<LoadedShard[]> {
  const loaded: LoadedShard[] = [];
  const bad: string[] = [];
  for (let s = 0; s < data.shards; s++) {
    const result = await getJsonIfExists<ShardResult>(d.s3, l.bucket, l.shardJson(data.epoch, s));
    const bin = result ? await getBytesIfExists(d.s3, l.bucket, l.shardBin(data.epoch, s)) : undefined;
    const why = staleReason(
      result,
      { runId: data.runId, epoch: data.epoch, shard: s, shards: data.shards, base },
      bin?.byteLength ?? 0,
      expectBytes,
    );
    if (why === null) {
      loaded.push({ result: result!, bin: bin! });
      continue;
    }
    bad.push(`shard ${s}: ${why}`);
    await d.rounds.forgetShard(data.runId, data.epoch, s);
    await reofferShard(d.queue, { runId: data.runId, out: data.out, epoch: data.epoch, shard: s, shards: data.shards });
  }
  if (bad.length) throw new Error(`round ${data.epoch} not mergeable yet (re-offered): ${bad.join('; ')}`);
  return loaded;
}

/** Validation features: computed once per run by the round-0 merge, stored in S3, memoised per process. */
function valSet(d: TrainDeps, spec: TrainRunSpec, l: TrainLayout): Promise<FeatureSet> {
  return memo(d, `val:${spec.runId}`, async () => {
    const bytes = await getBytesIfExists(d.s3, l.bucket, l.valFeatures);
    if (!bytes) throw new Error(`run ${spec.runId}: validation features missing`);
    return decodeFeatureSet(bytes);
  });
}

async function commit(
  d: TrainDeps,
  data: MergeJobData,
  l: TrainLayout,
  metrics: Record<string, unknown>,
  status: RunStatusDoc | null,
): Promise<void> {
  // The merge log gets one record per merge that did its writes; metrics.json commits the round.
  await putJson(d.s3, l.bucket, l.mergeLogPrefix(data.epoch) + `${randomUUID()}.json`, {
    epoch: data.epoch,
    host: os.hostname(),
    pid: process.pid,
    at: new Date().toISOString(),
  });
  await putJson(d.s3, l.bucket, l.epochMetrics(data.epoch), metrics);
  if (status) await putJson(d.s3, l.bucket, l.status, status);
  await d.rounds.markMerged(data.runId, data.epoch);
}

/**
 * Merges a finished round once. Round 0: global feature statistics, validation features, initial
 * weights. Round E: sample-weighted average of the shards' weights, validation, epoch-E/ model folder
 * and metrics, history.json, curves.png, best/ (best validation loss from min-epochs on), early stop,
 * then the next round. A round already committed (Redis marker or epoch-E/metrics.json) is not merged again.
 */
export async function runMerge(d: TrainDeps, data: MergeJobData): Promise<MergeOutcome> {
  const started = Date.now();
  const spec = await specOf(d, data);
  const l = trainLayout(data.out, data.runId);
  const log = d.logger.child({ runId: data.runId, epoch: data.epoch, merge: true });
  if (
    (await d.rounds.isMerged(data.runId, data.epoch)) ||
    (await getBytesIfExists(d.s3, l.bucket, l.epochMetrics(data.epoch)))
  ) {
    await d.rounds.markMerged(data.runId, data.epoch);
    const status = await getJsonIfExists<RunStatusDoc>(d.s3, l.bucket, l.status);
    if (status?.status !== 'done' && (status?.lastEpoch ?? 0) <= data.epoch)
      await enqueueRound(d.queue, spec, data.epoch + 1);
    log.info('round already merged; not merging again');
    return { epoch: data.epoch, skipped: 'already merged' };
  }
  const base = await baseOf(d, data, data.epoch);
  const ft = isFinetune(spec);
  const expectBytes = ft
    ? data.epoch === 0
      ? undefined
      : finetuneStateBytes(spec)
    : data.epoch === 0
      ? 2048 * 16
      : headBytes();
  const shards = await loadShards(d, data, l, base.id, expectBytes);
  if (data.epoch === 0) return mergePrepare(d, spec, data, l, shards, started, log);

  const norm = await normOf(d, l, data.runId);
  const round = ft
    ? await mergeFinetuneRound(d, spec, shards, norm, log)
    : await mergeHeadRound(d, spec, l, shards, norm);
  try {
    return await finishRound(d, spec, data, l, shards, base.id, round, started, log);
  } finally {
    round.dispose();
  }
}

/** What a merged round hands to the common tail: averaged state, validation scores, and its model export. */
interface MergedRound {
  samples: number;
  state: Uint8Array;
  val: { scores: Float32Array; truth: Uint8Array };
  /** The stressed validation (runs that select on it): picks the checkpoint and the threshold. */
  stressed?: { scores: Float32Array; truth: Uint8Array };
  files: string[];
  exportTo: (
    bucket: string,
    prefix: string,
    e: {
      threshold: number;
      thresholdRule: string;
      version: string;
      backboneSha256: string;
      extra: Record<string, unknown>;
    },
  ) => Promise<HeadMetadata>;
  dispose: () => void;
}

/** A head-only round: averaged linear head on standardised features. */
async function mergeHeadRound(
  d: TrainDeps,
  spec: TrainRunSpec,
  l: TrainLayout,
  shards: LoadedShard[],
  norm: { mean: Float32Array; std: Float32Array },
): Promise<MergedRound> {
  const avg = averageHeads(shards.map((s) => ({ ...decodeHead(s.bin), samples: s.result.samples })));
  const val = await valSet(d, spec, l);
  const ev = evaluateHead(standardise(val, norm.mean, norm.std), avg.kernel, avg.bias);
  const raw = foldNorm(avg.kernel, avg.bias, norm.mean, norm.std);
  return {
    samples: avg.samples,
    state: encodeHead(avg.kernel, avg.bias),
    val: { scores: ev.scores, truth: val.y },
    files: MODEL_FILES,
    exportTo: (bucket, prefix, e) => exportModel(d.s3, bucket, prefix, { ...raw, dropout: spec.recipe.dropout, ...e }),
    dispose: () => undefined,
  };
}

/** Mean unweighted BCE and accuracy at 0.5. Pure. */
function lossAndAccuracy(scores: Float32Array, truth: Uint8Array): { loss: number; accuracy: number } {
  let loss = 0;
  let correct = 0;
  const eps = 1e-7;
  for (let i = 0; i < scores.length; i++) {
    const p = Math.min(1 - eps, Math.max(eps, scores[i]));
    loss -= truth[i] ? Math.log(p) : Math.log(1 - p);
    if ((scores[i] >= 0.5 ? 1 : 0) === truth[i]) correct++;
  }
  return { loss: loss / Math.max(1, scores.length), accuracy: correct / Math.max(1, scores.length) };
}

async function finishRound(
  d: TrainDeps,
  spec: TrainRunSpec,
  data: MergeJobData,
  l: TrainLayout,
  shards: LoadedShard[],
  baseId: string,
  round: MergedRound,
  started: number,
  log: Logger,
): Promise<MergeOutcome> {
  // The selection set (stressed validation where the run has it) drives best/, early stopping and the threshold.
  const sel = round.stressed ?? round.val;
  const ev = lossAndAccuracy(sel.scores, sel.truth);
  const clean = lossAndAccuracy(round.val.scores, round.val.truth);
  const r = spec.recipe;
  const entry: HistoryEntry = {
    epoch: data.epoch,
    lr: learningRateWithWarmup(r.lrSchedule, r.lr, data.epoch - 1, r.epochs, r.warmupEpochs ?? 0),
    trainLoss: shards.reduce((s, x) => s + x.result.lossSum, 0) / round.samples,
    trainAccuracy: shards.reduce((s, x) => s + x.result.correct, 0) / round.samples,
    valLoss: ev.loss,
    valAccuracy: ev.accuracy,
    ...(round.stressed
      ? {
          selectedOn: 'stressed' as const,
          cleanValLoss: clean.loss,
          cleanValAccuracy: clean.accuracy,
          cleanValAuc:
            rocAuc(
              Array.from(round.val.truth, (v) => v === 1),
              Array.from(round.val.scores),
            ) ?? undefined,
          stressedValAuc:
            rocAuc(
              Array.from(sel.truth, (v) => v === 1),
              Array.from(sel.scores),
            ) ?? undefined,
        }
      : {}),
  };
  const history = [...(await readHistory(d.s3, data.out, data.runId)).filter((h) => h.epoch < data.epoch), entry];
  const bestEpoch = selectBest(history, r.minEpochs);
  const stoppedEarly = data.epoch < r.epochs && shouldStopEarly(history, r.minEpochs, r.patience);
  const stop = data.epoch >= r.epochs || stoppedEarly;

  const truth = Array.from(sel.truth, (v) => v === 1);
  const scores = Array.from(sel.scores);
  const th = chooseThreshold(truth, scores, r.thresholdRule);
  await putBytes(d.s3, l.bucket, l.epochState(data.epoch), round.state);
  const meta = await round.exportTo(l.bucket, l.epochDir(data.epoch), {
    threshold: th.threshold,
    thresholdRule: th.rule,
    version: r.version,
    backboneSha256: spec.backboneSha256,
    extra: {
      recipe: {
        ...r,
        shards: spec.shards,
        localEpochs: spec.localEpochs,
        data: `s3://${spec.data.bucket}/${spec.data.prefix}`,
      },
      training: {
        runId: spec.runId,
        epoch: data.epoch,
        state: stateId(round.state),
        base: baseId,
        samples: round.samples,
        classWeight: classWeightOf(spec),
      },
      split: { seed: spec.seed, valFraction: r.valFraction, train: spec.train.length, val: spec.val.length },
      validation: {
        ...binaryMetrics(truth, scores, th.threshold),
        sensitivityAtThreshold: th.sensitivity,
        specificityAtThreshold: th.specificity,
        loss: ev.loss,
        set: round.stressed ? 'stressed' : 'clean',
      },
      createdAt: new Date().toISOString(),
    },
  });
  const metrics = {
    kind: 'train',
    ...entry,
    modelId: meta.id,
    threshold: th.threshold,
    thresholdRule: th.rule,
    validation: meta.validation,
    samples: round.samples,
    bestEpoch,
    stop,
    stoppedEarly,
    shards: shards.map((s) => ({
      shard: s.result.shard,
      vectors: s.result.vectors,
      samples: s.result.samples,
      loss: s.result.lossSum / s.result.samples,
      accuracy: s.result.correct / s.result.samples,
      seconds: s.result.seconds,
      featureSeconds: s.result.featureSeconds,
      extracted: s.result.extracted,
      host: s.result.host,
      pid: s.result.pid,
    })),
    mergeSeconds: (Date.now() - started) / 1000,
    mergedAt: new Date().toISOString(),
  };
  if (bestEpoch === data.epoch) await copyEpochTo(d, l, data.epoch, l.best, metrics, round.files);
  await putJson(d.s3, l.bucket, l.history, history);
  try {
    await putObject(d.s3, l.bucket, l.curves, await curvesPng(history), 'image/png');
  } catch (err) {
    log.warn({ err: (err as Error).message }, 'training curves not rendered');
  }
  metrics.mergeSeconds = (Date.now() - started) / 1000; // all of the merge but the three commit writes
  await commit(d, data, l, metrics, {
    runId: spec.runId,
    status: stop ? 'done' : 'running',
    lastEpoch: data.epoch,
    bestEpoch,
    stoppedEarly,
    updatedAt: new Date().toISOString(),
  });
  if (!stop) await enqueueRound(d.queue, spec, data.epoch + 1);
  else if (isFinetune(spec)) await dropRunDraws(d, spec, data.epoch, log);
  log.info({ ...entry, bestEpoch, stop, mergeSeconds: metrics.mergeSeconds }, 'round merged');
  return { epoch: data.epoch, history: entry, bestEpoch, stop };
}

async function copyEpochTo(
  d: TrainDeps,
  l: TrainLayout,
  epoch: number,
  prefix: string,
  metrics: unknown,
  files: string[],
): Promise<void> {
  for (const f of files) {
    const b = await getBytesIfExists(d.s3, l.bucket, joinKey(l.epochDir(epoch), f));
    if (!b) throw new Error(`epoch ${epoch}: ${f} missing`);
    await putBytes(d.s3, l.bucket, joinKey(prefix, f), b);
  }
  await putJson(d.s3, l.bucket, joinKey(prefix, 'metrics.json'), metrics);
}

async function mergePrepare(
  d: TrainDeps,
  spec: TrainRunSpec,
  data: MergeJobData,
  l: TrainLayout,
  shards: LoadedShard[],
  started: number,
  log: Logger,
): Promise<MergeOutcome> {
  if (isFinetune(spec)) {
    const prepared = spec.recipe.initFrom
      ? await prepareFromInit(d, spec, l, log)
      : await prepareFinetune(d, spec, l, shards, log);
    const metrics = {
      epoch: 0,
      kind: 'prepare',
      ...prepared,
      shards: shards.map((s) => ({
        shard: s.result.shard,
        vectors: s.result.vectors,
        seconds: s.result.seconds,
        featureSeconds: s.result.featureSeconds,
        extracted: s.result.extracted,
        host: s.result.host,
        pid: s.result.pid,
      })),
      mergeSeconds: (Date.now() - started) / 1000,
      mergedAt: new Date().toISOString(),
    };
    await commit(d, data, l, metrics, {
      runId: spec.runId,
      status: 'running',
      lastEpoch: 0,
      bestEpoch: null,
      stoppedEarly: false,
      updatedAt: new Date().toISOString(),
    });
    await enqueueRound(d.queue, spec, 1);
    log.info(prepared, 'round 0 merged: BatchNorm statistics, feature standardisation, warm-started head');
    return { epoch: 0 };
  }
  const stats = combineStats(
    shards.map((s) => {
      const [sum, sumSq] = decodeF64Pair(s.bin);
      return { n: s.result.vectors, sum, sumSq };
    }),
  );
  const val = await featuresForItems({ ...d.features, s3: d.s3, logger: d.logger }, spec.data.bucket, spec.val, [0]);
  await putBytes(d.s3, l.bucket, l.valFeatures, encodeFeatureSet(val.set));
  d.memo.set(`val:${spec.runId}`, Promise.resolve(val.set));
  await putBytes(d.s3, l.bucket, l.norm, encodeNorm(stats.mean, stats.std));
  const init = initialHead(stats.mean.length, spec.seed);
  await putBytes(d.s3, l.bucket, l.epochState(0), encodeHead(init.kernel, init.bias));
  const metrics = {
    epoch: 0,
    kind: 'prepare',
    trainVectors: stats.n,
    valVectors: val.set.n,
    valExtracted: val.extracted,
    shards: shards.map((s) => ({
      shard: s.result.shard,
      vectors: s.result.vectors,
      seconds: s.result.seconds,
      extracted: s.result.extracted,
      host: s.result.host,
      pid: s.result.pid,
    })),
    mergeSeconds: (Date.now() - started) / 1000,
    mergedAt: new Date().toISOString(),
  };
  await commit(d, data, l, metrics, {
    runId: spec.runId,
    status: 'running',
    lastEpoch: 0,
    bestEpoch: null,
    stoppedEarly: false,
    updatedAt: new Date().toISOString(),
  });
  await enqueueRound(d.queue, spec, 1);
  d.logger.info(
    { runId: spec.runId, trainVectors: stats.n, valVectors: val.set.n },
    'round 0 merged: statistics, validation features, initial weights',
  );
  return { epoch: 0 };
}
