import { randomUUID } from 'node:crypto';
import type { S3Client } from '@aws-sdk/client-s3';
import type { Queue } from 'bullmq';
import type { Logger } from '../shared/logger.js';
import type { Claims } from '../shared/s3/put-if-absent.js';
import { putIfAbsent } from '../shared/s3/put-if-absent.js';
import { formatS3Uri } from '../shared/s3/uri.js';
import { runLayout } from './layout.js';
import { scheduleFinalize } from './finalize-job.js';
import {
  batchCountsAtStart,
  currentGeneration,
  encodeBatchBits,
  encodePlanShard,
  hasPart,
  latestGeneration,
  planBatch,
  planBatches,
  planFromDocument,
  planGenerations,
  type Predicted,
  type RunRecord,
} from './plan.js';
import { setBit, type RunStore } from './run-store.js';
import type {
  FailureLine,
  GenerationPlan,
  LegacyGenerationPlan,
  PlanLine,
  RunHeader,
  RunItem,
  RunManifest,
  ShardEntry,
} from './types.js';
import { enqueueFed, topUp } from './feed.js';
import { loadRunRecord, parseJsonl, predictedKeys, readShard, walkBatches, walkShard } from './run-record.js';
import type { ReadCounter } from './checkpoint.js';
import { readCheckpoint, readCheckpointObject } from './checkpoint-io.js';
import { putObject } from '../shared/s3/objects.js';

/** What producers, resume and finalize need to change a run. */
export interface RunDeps {
  s3: S3Client;
  queue: Queue;
  store: RunStore;
  claims: Claims;
  logger: Logger;
}

/** A new generation's plan as planRun wrote it (its lines went to `sink`, shard by shard), and the counters it starts from. */
export interface RunPlan {
  batches: number[];
  keyCount: number;
  shards: number[];
  counts: { scored: number; failed: number };
}

/** Where planRun sends each manifest shard's planned batches (a plan shard), in shard order. */
export type PlanSink = (shard: number, lines: PlanLine[]) => Promise<void>;

/**
 * Plans the batches `select` picks, each with only its keys that have no prediction in any part, a shard at a
 * time, handing each shard's lines to `sink` (the plan is never whole in memory). A shard whose merge
 * checkpoint matches its parts is read from the checkpoint's failures (its keys with no prediction); any
 * other from its parts. Counters are over the whole run.
 */
export async function planRun(
  s3: S3Client,
  record: RunRecord,
  select: (batch: number) => boolean,
  sink: PlanSink,
  reads?: ReadCounter,
): Promise<RunPlan> {
  const plan: RunPlan = { batches: [], keyCount: 0, shards: [], counts: { scored: 0, failed: 0 } };
  const gens = planGenerations(record.plans);
  for (const shard of record.manifest.shards) {
    const unpredicted = await checkpointFailures(s3, record, shard.shard, reads);
    if (unpredicted?.size === 0) {
      plan.counts.scored += shard.items; // every key has a prediction: nothing to plan, nothing to read
      continue;
    }
    const lines: PlanLine[] = [];
    for await (const b of shardPredictions(s3, record, shard, unpredicted, gens, reads)) {
      const p = select(b.batch) ? planBatch(b.batch, b.items, b.predicted) : undefined;
      if (p) lines.push(p);
      const c = batchCountsAtStart(b.items, b.predicted, p !== undefined);
      plan.counts.scored += c.scored;
      plan.counts.failed += c.failed;
    }
    if (!lines.length) continue;
    await sink(shard.shard, lines);
    plan.shards.push(shard.shard);
    for (const l of lines) {
      plan.batches.push(l.batch);
      plan.keyCount += l.items.length;
    }
  }
  return plan;
}

/** A shard's batches with their keys that have a prediction: all but `unpredicted` (from its checkpoint) when given, else from its parts. */
async function* shardPredictions(
  s3: S3Client,
  record: RunRecord,
  shard: ShardEntry,
  unpredicted: ReadonlySet<string> | undefined,
  gens: Map<number, number[]>,
  reads?: ReadCounter,
): AsyncGenerator<{ batch: number; items: RunItem[]; predicted: Predicted }> {
  if (!unpredicted) {
    for await (const b of walkShard(s3, record, shard, { reads }, gens))
      yield { batch: b.batch, items: b.items, predicted: predictedKeys(b.parts) };
    return;
  }
  const predicted: Predicted = { has: (key) => !unpredicted.has(key) };
  const { batchSize } = record.manifest;
  const items = await readShard(s3, record.manifest.out.bucket, shard.key);
  for (let i = 0; i < shard.batches; i++)
    yield { batch: shard.firstBatch + i, items: items.slice(i * batchSize, (i + 1) * batchSize), predicted };
}

/** The keys of a shard with no prediction, from its merge checkpoint; undefined when it has none that matches its parts. */
async function checkpointFailures(
  s3: S3Client,
  record: RunRecord,
  shard: number,
  reads?: ReadCounter,
): Promise<Set<string> | undefined> {
  const cp = await readCheckpoint(s3, record, shard, reads);
  if (!cp) return undefined;
  if (cp.tally.failed === 0) return new Set();
  const bytes = await readCheckpointObject(s3, record, cp, 'failures', reads);
  if (!bytes) return undefined;
  return new Set(
    parseJsonl<FailureLine>(Buffer.from(bytes).toString('utf8'), `checkpoint failures of shard ${shard}`).map(
      (f) => f.key,
    ),
  );
}

/**
 * Makes Redis hold the run as S3 records it, if Redis does not have it (a producer that died after the
 * manifest, or Redis lost its data): batches whose current generation has its part are done, the others
 * are fed to the queue again under their existing job ids. When Redis already has the run, its
 * unfinished batches are offered to the queue again (duplicates are ignored).
 */
export async function ensureRunInRedis(
  deps: RunDeps,
  manifest: RunManifest,
): Promise<{ created: boolean; pending: number }> {
  const record = await loadRunRecord(deps.s3, manifest);
  const gens = planGenerations(record.plans);
  const done = new Uint8Array(Math.ceil(manifest.totalBatches / 8));
  let pending = 0;
  for (let b = 0; b < manifest.totalBatches; b++) {
    if (hasPart(record.parts, b, currentGeneration(gens, b))) setBit(done, b);
    else pending++;
  }
  const counts = { scored: 0, failed: 0 };
  const anyPart = (b: number) =>
    hasPart(record.parts, b, 0) || (gens.get(b) ?? []).some((g) => hasPart(record.parts, b, g));
  for await (const b of walkBatches(deps.s3, record, { only: anyPart })) {
    const c = batchCountsAtStart(b.items, predictedKeys(b.parts), !hasPart(record.parts, b.batch, b.generation));
    counts.scored += c.scored;
    counts.failed += c.failed;
  }
  const generation = latestGeneration(record);
  const created = await deps.store.create(
    manifest.runId,
    {
      source: formatS3Uri(manifest.source),
      out: manifest.out,
      totalKeys: manifest.totalKeys,
      totalBatches: manifest.totalBatches,
      skipped: manifest.skipped,
      createdAt: manifest.createdAt,
      listing: false,
    },
    { generation, done, plan: [...gens].map(([b, g]) => [b, g.at(-1)!] as [number, number]), ...counts },
  );
  if (!created) return { created, pending: await reofferPending(deps, manifest) };
  await topUp(deps, manifest);
  if (pending === 0) await scheduleFinalize(deps.queue, manifest.runId, manifest.out, generation);
  return { created, pending };
}

/** Offers the run's handed-out, unfinished batches to the queue again (BullMQ ignores job ids it holds), tops up the window, and schedules the finalize when all are done. */
export async function reofferPending(deps: RunDeps, header: RunHeader): Promise<number> {
  const unfinished = await deps.store.unfinishedFed(header.runId);
  await enqueueFed(deps, header, unfinished);
  await topUp(deps, header);
  const state = await deps.store.get(header.runId);
  if (state?.status === 'running' && !state.listing && state.doneBatches >= state.totalBatches) {
    await scheduleFinalize(deps.queue, header.runId, header.out, state.generation);
  }
  return state ? state.totalBatches - state.doneBatches : 0;
}

/**
 * Starts the next attempt generation with the batches `select` picks, each with only its keys lacking a
 * prediction (see planRun). The plan's shards are written first, under a folder of this writer's own,
 * then its index, only once (of two processes starting the same generation, the second adopts the
 * first's plan); then Redis and the queue follow it.
 */
export async function startGeneration(
  deps: RunDeps,
  record: RunRecord,
  select: (batch: number) => boolean,
  reason: GenerationPlan['reason'],
  reads?: ReadCounter,
): Promise<GenerationPlan> {
  const { manifest } = record;
  const layout = runLayout(manifest.out, manifest.runId);
  const state = await deps.store.get(manifest.runId);
  const generation = Math.max(state?.generation ?? 0, latestGeneration(record)) + 1;
  const shardsPrefix = layout.planShardsPrefix(generation, randomUUID().slice(0, 8));
  const sink: PlanSink = (shard, lines) =>
    putObject(
      deps.s3,
      layout.bucket,
      layout.planShard(shardsPrefix, shard),
      encodePlanShard(lines),
      'application/x-ndjson',
    );
  const plan = await planRun(deps.s3, record, select, sink, reads);
  let written: GenerationPlan = {
    runId: manifest.runId,
    generation,
    createdAt: new Date().toISOString(),
    reason,
    batchCount: plan.batches.length,
    keyCount: plan.keyCount,
    shards: plan.shards,
    shardsPrefix,
    batchBits: encodeBatchBits(plan.batches),
  };
  const put = await putIfAbsent(
    deps.s3,
    deps.claims,
    layout.bucket,
    layout.generation(generation),
    Buffer.from(JSON.stringify(written) + '\n'),
    'application/json',
    { probePrefix: manifest.out.prefix },
  );
  if (!put.created) {
    written = planFromDocument(
      JSON.parse(Buffer.from(put.bytes).toString('utf8')) as GenerationPlan | LegacyGenerationPlan,
      manifest,
    );
    deps.logger.warn(
      { runId: manifest.runId, generation },
      'another process started this generation first; adopting its plan',
    );
  }
  const batches = planBatches(written);
  await deps.store.startGeneration(manifest.runId, generation, batches, plan.counts);
  await topUp(deps, manifest);
  if (batches.length === 0) await scheduleFinalize(deps.queue, manifest.runId, manifest.out, generation);
  deps.logger.info(
    { runId: manifest.runId, generation, reason, batches: batches.length, keys: written.keyCount },
    'attempt generation started',
  );
  return written;
}
