import type { S3Client } from '@aws-sdk/client-s3';
import type { Queue } from 'bullmq';
import type { Logger } from '../shared/logger.js';
import type { Claims } from '../shared/s3/put-if-absent.js';
import { putIfAbsent } from '../shared/s3/put-if-absent.js';
import { formatS3Uri } from '../shared/s3/uri.js';
import { runLayout } from '../shared/run/layout.js';
import { scheduleFinalize } from '../shared/run/finalize-job.js';
import { batchCount, batchItems, countsAtStart, currentGenerations, incompleteBatches, latestGeneration, type PlannedBatch, type RunRecord } from '../shared/run/plan.js';
import type { RunStore } from '../shared/run/run-store.js';
import type { GenerationPlan, RunManifest } from '../shared/run/types.js';
import { batchJob, enqueueBatches } from './enqueue-batches.js';
import { loadRunRecord, predictedKeys, readParts } from './run-record.js';

/** What producers, resume and finalize need to change a run. */
export interface RunDeps {
  s3: S3Client;
  queue: Queue;
  store: RunStore;
  claims: Claims;
  logger: Logger;
}

/** Keys with a prediction in the record's parts (reads every part; none when there are no parts). */
export async function recordPredictions(s3: S3Client, record: RunRecord): Promise<Set<string>> {
  return record.parts.length ? predictedKeys(await readParts(s3, record.manifest, record.parts)) : new Set();
}

/**
 * Makes Redis hold the run as S3 records it, if Redis does not have it (new run, a producer that died
 * before Redis knew the run, or Redis lost its data): the batches whose current generation has no part
 * are pending again and enqueued under their existing job ids. When Redis already has the run, its
 * unfinished batches are offered to the queue again (duplicates are ignored).
 */
export async function ensureRunInRedis(deps: RunDeps, manifest: RunManifest): Promise<{ created: boolean; pending: number }> {
  const record = await loadRunRecord(deps.s3, manifest);
  const pending = incompleteBatches(record);
  const gens = currentGenerations(record);
  const predicted = pending.length < gens.length ? await recordPredictions(deps.s3, record) : new Set<string>();
  const generation = latestGeneration(record);
  const created = await deps.store.create(
    manifest.runId,
    {
      source: formatS3Uri(manifest.source),
      out: manifest.out,
      totalKeys: manifest.items.length,
      totalBatches: batchCount(manifest),
      skipped: manifest.skipped?.length ?? 0,
      createdAt: manifest.createdAt,
    },
    {
      generation,
      pending,
      plan: gens.flatMap((g, b) => (g > 0 ? [[b, g] as [number, number]] : [])),
      ...countsAtStart(manifest, predicted, new Set(pending)),
    },
  );
  if (!created) return { created, pending: await reofferPending(deps, manifest) };
  await enqueueBatches(deps.queue, pending.map((b) => batchJob(manifest, b, gens[b], batchItems(record, b, gens[b]))));
  if (pending.length === 0) await scheduleFinalize(deps.queue, manifest.runId, manifest.out, generation);
  return { created, pending: pending.length };
}

/** Enqueues the run's pending batches again (BullMQ ignores job ids it holds); schedules the finalize when none are left. */
export async function reofferPending(deps: RunDeps, manifest: RunManifest): Promise<number> {
  const [pending, state] = await Promise.all([deps.store.pendingBatches(manifest.runId), deps.store.get(manifest.runId)]);
  const record: RunRecord = pending.some((p) => p.generation > 0) ? await loadRunRecord(deps.s3, manifest) : { manifest, plans: [], parts: [] };
  await enqueueBatches(deps.queue, pending.map((p) => batchJob(manifest, p.batch, p.generation, batchItems(record, p.batch, p.generation))));
  if (pending.length === 0 && state?.status === 'running') await scheduleFinalize(deps.queue, manifest.runId, manifest.out, state.generation);
  return pending.length;
}

/**
 * Starts the next attempt generation with `planned` (batches, each with only its keys lacking a
 * prediction). The plan is written to S3 first and only once (of two processes starting the same
 * generation, the second adopts the first's plan), then Redis and the queue follow it.
 */
export async function startGeneration(
  deps: RunDeps,
  record: RunRecord,
  planned: PlannedBatch[],
  predicted: ReadonlySet<string>,
  reason: GenerationPlan['reason'],
): Promise<GenerationPlan> {
  const { manifest } = record;
  const layout = runLayout(manifest.out, manifest.runId);
  const state = await deps.store.get(manifest.runId);
  const generation = Math.max(state?.generation ?? 0, latestGeneration(record)) + 1;
  let plan: GenerationPlan = { runId: manifest.runId, generation, createdAt: new Date().toISOString(), reason, batches: planned };
  const put = await putIfAbsent(deps.s3, deps.claims, layout.bucket, layout.generation(generation), Buffer.from(JSON.stringify(plan) + '\n'), 'application/json', { probePrefix: manifest.out.prefix });
  if (!put.created) {
    plan = JSON.parse(Buffer.from(put.bytes).toString('utf8')) as GenerationPlan;
    deps.logger.warn({ runId: manifest.runId, generation }, 'another process started this generation first; adopting its plan');
  }
  const batches = plan.batches.map((b) => b.batch);
  await deps.store.startGeneration(manifest.runId, generation, batches, countsAtStart(manifest, predicted, new Set(batches)));
  await enqueueBatches(deps.queue, plan.batches.map((b) => batchJob(manifest, b.batch, generation, b.items)));
  if (batches.length === 0) await scheduleFinalize(deps.queue, manifest.runId, manifest.out, generation);
  deps.logger.info({ runId: manifest.runId, generation, reason, batches: batches.length, keys: plan.batches.reduce((n, b) => n + b.items.length, 0) }, 'attempt generation started');
  return plan;
}
