import type { S3Client } from '@aws-sdk/client-s3';
import type { Queue } from 'bullmq';
import type { Logger } from '../shared/logger.js';
import { labelFromKey, type ClassName } from '../shared/labels.js';
import type { S3Location } from '../shared/s3/uri.js';
import { listImages } from '../shared/s3/list-images.js';
import { enqueueRound } from './jobs.js';
import { mergeJobId, shardJobId, trainLayout } from './layout.js';
import { labelItems, splitRun } from './plan-run.js';
import { finishedEpochs, putJson, readHistory, readSpec, readStatus } from './run-io.js';
import { getJsonIfExists } from '../shared/s3/objects.js';
import { selectBest, shouldStopEarly } from './selection.js';
import type { TrainRecipe, TrainRunSpec } from './types.js';

export interface ProducerDeps {
  s3: S3Client;
  queue: Queue;
  logger: Logger;
}

export interface StartRequest {
  runId: string;
  data: S3Location;
  out: S3Location;
  shards: number;
  localEpochs: number;
  recipe: TrainRecipe;
  backboneSha256: string;
  /** A labels file: classes by key, optional groups (patient ids) by key. */
  labels?: { byKey: Map<string, ClassName>; groups?: Map<string, string>; from: string };
}

/** Lists and splits the images, writes run.json and enqueues round 0. Repeating it for an existing run id only re-offers its next round. */
export async function startTrainRun(
  d: ProducerDeps,
  req: StartRequest,
): Promise<{ spec: TrainRunSpec; existed: boolean }> {
  const l = trainLayout(req.out, req.runId);
  const existing = await getJsonIfExists<TrainRunSpec>(d.s3, l.bucket, l.spec);
  if (existing) {
    await resumeTrainRun(d, req.out, req.runId);
    return { spec: existing, existed: true };
  }
  const listed = await listImages(d.s3, req.data);
  const { items, unlabelled } = labelItems(listed, req.labels ? (k) => req.labels!.byKey.get(k) : labelFromKey);
  const { grouping, holdout, ...split } = splitRun(
    items,
    {
      limit: req.recipe.limit,
      valFraction: req.recipe.valFraction,
      holdoutFraction: req.recipe.holdoutFraction,
      seed: req.recipe.seed,
      groupBy: req.recipe.groupBy ?? 'auto',
    },
    req.labels?.groups,
  );
  if (split.train.length < req.shards)
    throw new Error(`${split.train.length} training images cannot fill ${req.shards} shards`);
  for (const [name, part] of Object.entries(split))
    if (new Set(part.map((i) => i.label)).size < 2)
      throw new Error(`the ${name} split needs both classes (got ${part.length} images)`);
  const spec: TrainRunSpec = {
    runId: req.runId,
    createdAt: new Date().toISOString(),
    data: req.data,
    out: req.out,
    labelsFrom: req.labels?.from ?? 'key-folders',
    shards: req.shards,
    localEpochs: req.localEpochs,
    seed: req.recipe.seed,
    recipe: req.recipe,
    backboneSha256: req.backboneSha256,
    train: split.train,
    val: split.val,
    holdout,
    grouping,
  };
  await putJson(d.s3, l.bucket, l.spec, spec);
  await enqueueRound(d.queue, spec, 0);
  d.logger.info(
    {
      runId: req.runId,
      train: split.train.length,
      val: split.val.length,
      holdout: holdout.length,
      unlabelled,
      shards: req.shards,
      grouping,
    },
    'training run created',
  );
  return { spec, existed: false };
}

export interface Resumed {
  runId: string;
  lastEpoch: number | null;
  nextEpoch: number | null;
  done: boolean;
}

/**
 * Rebuilds a run's position from S3 alone (the last committed epoch-E/metrics.json and history.json)
 * and re-offers the next round; shard results already in S3 for it are reused by the shard jobs.
 */
export async function resumeTrainRun(d: ProducerDeps, out: S3Location, runId: string): Promise<Resumed> {
  const spec = await readSpec(d.s3, out, runId);
  const epochs = await finishedEpochs(d.s3, out, runId);
  const last = epochs.length ? epochs[epochs.length - 1] : null;
  const status = await readStatus(d.s3, out, runId);
  const history = await readHistory(d.s3, out, runId);
  const r = spec.recipe;
  const finished =
    status?.status === 'done' ||
    (last !== null &&
      last >= 1 &&
      (last >= r.epochs ||
        shouldStopEarly(
          history.filter((h) => h.epoch <= last),
          r.minEpochs,
          r.patience,
        )));
  if (finished) {
    if (status?.status !== 'done') {
      const l = trainLayout(out, runId);
      await putJson(d.s3, l.bucket, l.status, {
        runId,
        status: 'done',
        lastEpoch: last,
        bestEpoch: selectBest(history, r.minEpochs),
        stoppedEarly: last! < r.epochs,
        updatedAt: new Date().toISOString(),
      });
    }
    return { runId, lastEpoch: last, nextEpoch: null, done: true };
  }
  const next = last === null ? 0 : last + 1;
  await enqueueRound(d.queue, spec, next);
  await retryFailed(d.queue, [
    ...Array.from({ length: spec.shards }, (_, s) => shardJobId(runId, next, s)),
    mergeJobId(runId, next),
  ]);
  d.logger.info({ runId, lastEpoch: last, nextEpoch: next }, 'training run resumed from S3');
  return { runId, lastEpoch: last, nextEpoch: next, done: false };
}

/** Jobs of the round that ran out of attempts (e.g. while S3 was down) get another go. */
async function retryFailed(queue: Queue, ids: string[]): Promise<void> {
  for (const id of ids) {
    const job = await queue.getJob(id);
    if (job && (await job.isFailed())) await job.retry();
  }
}
