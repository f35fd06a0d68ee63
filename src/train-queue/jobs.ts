import { Queue, type JobsOptions } from 'bullmq';
import type { Redis } from 'ioredis';
import { DEFAULT_JOB_OPTIONS, queueErrorsTo } from '../shared/queue.js';
import { mergeJobId, shardJobId } from './layout.js';
import type { MergeJobData, ShardJobData, TrainRunSpec } from './types.js';

export const TRAIN_QUEUE = 'train';
export const JOB_TRAIN_SHARD = 'train-shard';
export const JOB_TRAIN_MERGE = 'train-merge';

/** A merge that finds a stale or missing shard result re-offers that shard and fails, to be retried. */
const MERGE_OPTIONS: JobsOptions = {
  ...DEFAULT_JOB_OPTIONS,
  attempts: 12,
  backoff: { type: 'exponential', delay: 1000 },
};

export function createTrainQueue(connection: Redis, prefix: string): Queue {
  const queue = new Queue(TRAIN_QUEUE, { connection, prefix, defaultJobOptions: DEFAULT_JOB_OPTIONS });
  queueErrorsTo(queue, () => undefined); // failed calls reject; an unheard 'error' would print the whole error object
  return queue;
}

/** Offers every shard job of a round; ids are deterministic, so a repeat adds nothing. */
export async function enqueueRound(
  queue: Queue,
  spec: Pick<TrainRunSpec, 'runId' | 'out' | 'shards'>,
  epoch: number,
): Promise<void> {
  await queue.addBulk(
    Array.from({ length: spec.shards }, (_, shard) => {
      const data: ShardJobData = { runId: spec.runId, out: spec.out, epoch, shard, shards: spec.shards };
      return { name: JOB_TRAIN_SHARD, data, opts: { jobId: shardJobId(spec.runId, epoch, shard) } };
    }),
  );
}

/** Re-offers one shard job even if a finished job with its id is still kept. */
export async function reofferShard(queue: Queue, data: ShardJobData): Promise<void> {
  const id = shardJobId(data.runId, data.epoch, data.shard);
  const old = await queue.getJob(id);
  if (old && !(await old.isActive()) && !(await old.isWaiting()) && !(await old.isDelayed()))
    await old.remove().catch(() => undefined);
  await queue.add(JOB_TRAIN_SHARD, data, { jobId: id });
}

export async function enqueueMerge(queue: Queue, data: MergeJobData): Promise<void> {
  await queue.add(JOB_TRAIN_MERGE, data, { ...MERGE_OPTIONS, jobId: mergeJobId(data.runId, data.epoch), priority: 1 });
}
