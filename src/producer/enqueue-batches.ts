import type { Queue } from 'bullmq';
import { batchJobId, chunk } from '../shared/run/batching.js';
import { JOB_BATCH } from '../shared/queue.js';
import type { BatchJobData, RunItem, RunManifest } from '../shared/run/types.js';

export interface PlannedBatch {
  jobId: string;
  data: BatchJobData;
}

/** Groups items into batch jobs numbered from firstBatch. Pure. */
export function planBatches(manifest: RunManifest, items: readonly RunItem[], firstBatch = 0): PlannedBatch[] {
  return chunk(items, manifest.batchSize).map((batchItems, i) => {
    const batch = firstBatch + i;
    return {
      jobId: batchJobId(manifest.runId, batch),
      data: { runId: manifest.runId, batch, source: manifest.source, out: manifest.out, items: batchItems },
    };
  });
}

/** Adds the batch jobs in bulk; BullMQ ignores a job id it already holds, so this is idempotent. */
export async function enqueueBatches(queue: Queue, batches: readonly PlannedBatch[], bulkSize = 1000): Promise<void> {
  for (const group of chunk(batches, bulkSize)) {
    await queue.addBulk(group.map((b) => ({ name: JOB_BATCH, data: b.data, opts: { jobId: b.jobId } })));
  }
}
