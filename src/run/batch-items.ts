import type { S3Client } from '@aws-sdk/client-s3';
import { plannedItems } from './plan.js';
import { readPlanShard, readShard } from './run-record.js';
import type { BatchJobData, RunItem } from './types.js';

/** A batch's keys: its line of the plan shard (later generations), or its line range of the manifest shard; each shard read once per process, cached. */
export async function batchItemsOf(s3: S3Client, data: BatchJobData): Promise<RunItem[]> {
  if (data.items) return data.items;
  if (data.planShard)
    return plannedItems(
      await readPlanShard(s3, data.out.bucket, data.planShard),
      data.batch,
      `plan shard s3://${data.out.bucket}/${data.planShard}`,
    );
  if (!data.shard)
    throw new Error(`batch job ${data.runId}/${data.batch} names neither keys nor a manifest or plan shard`);
  return (await readShard(s3, data.out.bucket, data.shard.key)).slice(data.shard.start, data.shard.end);
}
