import type { S3Client } from '@aws-sdk/client-s3';
import type { Queue } from 'bullmq';
import type { Logger } from '../logger.js';
import type { Claims } from '../s3/put-if-absent.js';
import { putIfAbsent } from '../s3/put-if-absent.js';
import { formatS3Uri } from '../s3/uri.js';
import { runLayout } from './layout.js';
import { scheduleFinalize } from './finalize-job.js';
import { batchCountsAtStart, currentGeneration, hasPart, latestGeneration, planBatch, planGenerations, type PlannedBatch, type RunRecord } from './plan.js';
import { setBit, type RunStore } from './run-store.js';
import type { GenerationPlan, RunHeader, RunManifest } from './types.js';
import { enqueueFed, topUp } from './feed.js';
import { loadRunRecord, predictedKeys, walkBatches } from './run-record.js';

/** What producers, resume and finalize need to change a run. */
export interface RunDeps {
  s3: S3Client;
  queue: Queue;
  store: RunStore;
  claims: Claims;
  logger: Logger;
}

/** A new generation's plan and the counters it starts from. */
export interface RunPlan {
  planned: PlannedBatch[];
  counts: { scored: number; failed: number };
}

/**
 * Reads every batch's parts once (in batch order, a shard at a time) and plans the batches `select` picks:
 * each with only its keys that have no prediction in any part. Counters are over the whole run.
 */
export async function planRun(s3: S3Client, record: RunRecord, select: (batch: number) => boolean): Promise<RunPlan> {
  const planned: PlannedBatch[] = [];
  const counts = { scored: 0, failed: 0 };
  for await (const b of walkBatches(s3, record)) {
    const p = select(b.batch) ? planBatch(b.batch, b.items, predictedKeys(b.parts)) : undefined;
    if (p) planned.push(p);
    const c = batchCountsAtStart(b.items, predictedKeys(b.parts), p !== undefined);
    counts.scored += c.scored;
    counts.failed += c.failed;
  }
  return { planned, counts };
}

/**
 * Makes Redis hold the run as S3 records it, if Redis does not have it (a producer that died after the
 * manifest, or Redis lost its data): batches whose current generation has its part are done, the others
 * are fed to the queue again under their existing job ids. When Redis already has the run, its
 * unfinished batches are offered to the queue again (duplicates are ignored).
 */
export async function ensureRunInRedis(deps: RunDeps, manifest: RunManifest): Promise<{ created: boolean; pending: number }> {
  const record = await loadRunRecord(deps.s3, manifest);
  const gens = planGenerations(record.plans);
  const done = new Uint8Array(Math.ceil(manifest.totalBatches / 8));
  let pending = 0;
  for (let b = 0; b < manifest.totalBatches; b++) {
    if (hasPart(record.parts, b, currentGeneration(gens, b))) setBit(done, b);
    else pending++;
  }
  const counts = { scored: 0, failed: 0 };
  const anyPart = (b: number) => hasPart(record.parts, b, 0) || (gens.get(b) ?? []).some((g) => hasPart(record.parts, b, g));
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
 * Starts the next attempt generation with `planned` (batches, each with only its keys lacking a
 * prediction). The plan is written to S3 first and only once (of two processes starting the same
 * generation, the second adopts the first's plan), then Redis and the queue follow it.
 */
export async function startGeneration(deps: RunDeps, record: RunRecord, plan: RunPlan, reason: GenerationPlan['reason']): Promise<GenerationPlan> {
  const { manifest } = record;
  const layout = runLayout(manifest.out, manifest.runId);
  const state = await deps.store.get(manifest.runId);
  const generation = Math.max(state?.generation ?? 0, latestGeneration(record)) + 1;
  let written: GenerationPlan = { runId: manifest.runId, generation, createdAt: new Date().toISOString(), reason, batches: plan.planned };
  const put = await putIfAbsent(deps.s3, deps.claims, layout.bucket, layout.generation(generation), Buffer.from(JSON.stringify(written) + '\n'), 'application/json', { probePrefix: manifest.out.prefix });
  if (!put.created) {
    written = JSON.parse(Buffer.from(put.bytes).toString('utf8')) as GenerationPlan;
    deps.logger.warn({ runId: manifest.runId, generation }, 'another process started this generation first; adopting its plan');
  }
  const batches = written.batches.map((b) => b.batch);
  await deps.store.startGeneration(manifest.runId, generation, batches, plan.counts);
  await topUp(deps, manifest);
  if (batches.length === 0) await scheduleFinalize(deps.queue, manifest.runId, manifest.out, generation);
  deps.logger.info({ runId: manifest.runId, generation, reason, batches: batches.length, keys: written.batches.reduce((n, b) => n + b.items.length, 0) }, 'attempt generation started');
  return written;
}
