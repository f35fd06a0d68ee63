import type { S3Client } from '@aws-sdk/client-s3';
import type { Queue } from 'bullmq';
import type { Logger } from '../shared/logger.js';
import type { Fed, RunState, RunStore } from './run-store.js';
import { plannedItems, shardRange } from './plan.js';
import type { GenerationPlan, RunHeader } from './types.js';
import { batchJob, enqueueBatches, type PlannedKeys } from './enqueue-batches.js';
import { runLayout } from './layout.js';
import { readGenerationPlan } from './run-record.js';

export interface FeedDeps {
  s3: S3Client;
  queue: Queue;
  store: RunStore;
  logger: Logger;
}

/** Batch jobs per worker slot allowed in the queue when --max-queued-batches is not given. */
export const WINDOW_PER_SLOT = 20;

/** Jobs in the queue that are not finished: the backlog the window bounds. */
export async function queueBacklog(queue: Queue): Promise<number> {
  const counts = await queue.getJobCounts('wait', 'active', 'delayed', 'prioritized', 'waiting-children');
  return Object.values(counts).reduce((s, n) => s + n, 0);
}

/**
 * The window: the run's --max-queued-batches, else 20 x the workers' concurrency (live score workers
 * times this process's CXR_WORKER_CONCURRENCY, the one figure a process knows; 1 in a producer).
 */
export async function feedWindow(
  queue: Queue,
  given: number | undefined,
  env: NodeJS.ProcessEnv = process.env,
): Promise<number> {
  if (given) return given;
  const workers = await queue.getWorkersCount().catch(() => 1);
  return WINDOW_PER_SLOT * Math.max(1, workers) * Math.max(1, Number(env.CXR_WORKER_CONCURRENCY ?? 1) || 1);
}

/**
 * Tops the queue up to the window with the run's next batches not yet done (in batch order). Called by the
 * producer as it lists and by workers as batches finish; concurrent callers may overshoot the window by
 * at most one top-up each. `leaving`: jobs of the caller still counted in the queue that are about to leave it
 * (a worker's own finished batch, 1), so the last batch of a run makes room. Returns the batches enqueued.
 */
export async function topUp(deps: FeedDeps, header: RunHeader, leaving = 0): Promise<number> {
  const state = await deps.store.get(header.runId);
  if (!state || state.status !== 'running') return 0;
  const window = await feedWindow(deps.queue, state.window);
  let enqueued = 0;
  let cursor = state.fed;
  let windowFull = false;
  for (let round = 0; round < 100; round++) {
    const want = window - ((await queueBacklog(deps.queue)) - leaving);
    if (want <= 0) {
      windowFull = true;
      break;
    }
    const got = await deps.store.feed(header.runId, want);
    if (!got) break;
    cursor = got.fed;
    await enqueueFed(deps, header, got.batches);
    enqueued += got.batches.length;
    if (got.batches.length >= want) windowFull = true;
    if (got.batches.length >= want || got.fed >= state.totalBatches) break;
  }
  // Batches left behind a full window: workers top up the run of the batch they finished, so a run created
  // behind another run's backlog would be fed by nobody. It waits in a list that every top-up serves.
  if (windowFull && (state.listing || cursor < state.totalBatches)) await deps.store.markWaitingForWindow(header.runId);
  return enqueued;
}

/** Runs served per call of feedWaitingRuns: a bound on the work one finished batch adds. */
const WAITING_RUNS_PER_CALL = 8;

/**
 * Feeds the runs that found the window full (oldest first) while the queue has room; a run that is fully fed
 * or has ended leaves the list. Called by workers after each batch (record-batch.ts topUpAfter).
 */
export async function feedWaitingRuns(
  deps: FeedDeps,
  readHeader: (out: RunState['out'], runId: string) => Promise<RunHeader>,
  leaving = 0,
): Promise<void> {
  for (const runId of await deps.store.runsWaitingForWindow(WAITING_RUNS_PER_CALL)) {
    const state = await deps.store.get(runId);
    if (!state || state.status !== 'running' || (!state.listing && state.fed >= state.totalBatches)) {
      await deps.store.clearWaitingForWindow(runId);
      continue;
    }
    await topUp(deps, await readHeader(state.out, runId), leaving);
  }
}

/**
 * Enqueues fed batches: generation 0 names its manifest shard, a later one its plan shard (the worker reads
 * either, cached); a plan of the previous version gives its keys inline.
 */
export async function enqueueFed(deps: Pick<FeedDeps, 's3' | 'queue'>, header: RunHeader, fed: Fed): Promise<void> {
  const plans = new Map<number, GenerationPlan>();
  for (const g of new Set(fed.filter((f) => f.generation > 0).map((f) => f.generation)))
    plans.set(g, await readGenerationPlan(deps.s3, header, g));
  await enqueueBatches(
    deps.queue,
    fed.map((f) =>
      batchJob(
        header,
        f.batch,
        f.generation,
        f.generation > 0 ? plannedKeys(plans.get(f.generation)!, header, f.batch) : undefined,
      ),
    ),
  );
}

/** Where a later generation's batch finds its keys: its plan shard, or a previous version's plan's inline keys. */
function plannedKeys(plan: GenerationPlan, header: RunHeader, batch: number): PlannedKeys {
  if (plan.inline)
    return { items: plannedItems(plan.inline, batch, `run ${header.runId} generation ${plan.generation}`) };
  return {
    planShard: runLayout(header.out, header.runId).planShard(plan.shardsPrefix, shardRange(header, batch).shard),
  };
}
