import type { Queue } from 'bullmq';
import { batchJobId, chunk } from './batching.js';
import { JOB_BATCH } from '../shared/queue.js';
import { shardRange } from './plan.js';
import { runLayout } from './layout.js';
import type { BatchJobData, RunHeader, RunItem } from './types.js';

export interface BatchJob {
  jobId: string;
  data: BatchJobData;
}

/** Where a later generation's batch job finds its keys. */
export type PlannedKeys = { planShard: string } | { items: RunItem[] };

/**
 * The job for batch `batch` in attempt generation `generation`: generation 0 names its manifest shard and
 * line range, a later generation its plan shard (the worker reads the keys). Pure.
 */
export function batchJob(header: RunHeader, batch: number, generation: number, planned?: PlannedKeys): BatchJob {
  const base = {
    runId: header.runId,
    batch,
    generation,
    source: header.source,
    out: header.out,
    ...(header.skipFlagged ? { skipFlagged: true } : {}),
  };
  if (generation > 0) {
    if (!planned)
      throw new Error(`run ${header.runId}: batch ${batch} generation ${generation} needs its planned keys`);
    return { jobId: batchJobId(header.runId, batch, generation), data: { ...base, ...planned } };
  }
  const { shard, start, end } = shardRange(header, batch);
  return {
    jobId: batchJobId(header.runId, batch, 0),
    data: { ...base, shard: { key: runLayout(header.out, header.runId).manifestShard(shard), start, end } },
  };
}

/** Adds the batch jobs in bulk; BullMQ ignores a job id it already holds, so this is idempotent. */
export async function enqueueBatches(queue: Queue, jobs: readonly BatchJob[], bulkSize = 1000): Promise<void> {
  for (const group of chunk(jobs, bulkSize)) {
    await queue.addBulk(group.map((b) => ({ name: JOB_BATCH, data: b.data, opts: { jobId: b.jobId } })));
  }
}
