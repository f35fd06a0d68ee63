import type { Queue } from 'bullmq';
import { batchJobId, chunk } from '../shared/run/batching.js';
import { JOB_BATCH } from '../shared/queue.js';
import type { BatchJobData, RunItem, RunManifest } from '../shared/run/types.js';

export interface BatchJob {
  jobId: string;
  data: BatchJobData;
}

/** The job for batch `batch` in attempt generation `generation`, running `items`. Pure. */
export function batchJob(manifest: RunManifest, batch: number, generation: number, items: RunItem[]): BatchJob {
  return {
    jobId: batchJobId(manifest.runId, batch, generation),
    data: { runId: manifest.runId, batch, generation, source: manifest.source, out: manifest.out, items, ...(manifest.skipFlagged ? { skipFlagged: true } : {}) },
  };
}

/** Generation 0: the manifest's items in batches of batchSize. Pure. */
export function manifestJobs(manifest: RunManifest): BatchJob[] {
  return chunk(manifest.items, manifest.batchSize).map((items, batch) => batchJob(manifest, batch, 0, items));
}

/** Adds the batch jobs in bulk; BullMQ ignores a job id it already holds, so this is idempotent. */
export async function enqueueBatches(queue: Queue, jobs: readonly BatchJob[], bulkSize = 1000): Promise<void> {
  for (const group of chunk(jobs, bulkSize)) {
    await queue.addBulk(group.map((b) => ({ name: JOB_BATCH, data: b.data, opts: { jobId: b.jobId } })));
  }
}
