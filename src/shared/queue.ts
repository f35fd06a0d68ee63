import type { Redis } from 'ioredis';
import { Queue, type JobsOptions } from 'bullmq';
import { createWorkerRedis, isConnectionError, isFatalRedisError, type RedisTarget } from './redis-connection.js';

export const SCORE_QUEUE = 'score';
export const JOB_BATCH = 'batch';
export const JOB_SETTLE = 'settle';
export const JOB_FINALIZE = 'finalize';

/**
 * Batch jobs: CXR_BATCH_ATTEMPTS tries (default 6), exponential backoff from CXR_BATCH_BACKOFF_MS (default
 * 2000: 2, 4, 8, 16, 32 s, so about a minute of S3 or Redis trouble). A crash uses one attempt like a failure
 * does (see STALLED). The last 100 completed jobs are kept: the run's done bitmap, not BullMQ's record of
 * completed jobs, makes re-enqueueing a done batch a no-op, so Redis does not grow with the run.
 */
export function batchJobOptions(env: NodeJS.ProcessEnv = process.env): JobsOptions {
  const int = (name: string, fallback: number) => {
    const v = env[name];
    if (v === undefined || v === '') return fallback;
    const n = Number(v);
    if (!Number.isInteger(n) || n < 1) throw new Error(`${name} must be a positive integer, got ${JSON.stringify(v)}`);
    return n;
  };
  return {
    attempts: int('CXR_BATCH_ATTEMPTS', 6),
    backoff: { type: 'exponential', delay: int('CXR_BATCH_BACKOFF_MS', 2000) },
    removeOnComplete: { age: 7 * 24 * 3600, count: 100 },
    removeOnFail: { age: 30 * 24 * 3600 },
  };
}

/** The default batch options (the environment's overrides aside), for other queues to start from. */
export const DEFAULT_JOB_OPTIONS: JobsOptions = batchJobOptions({});

/** Recording an exhausted batch must outlast the outage that exhausted it: 12 tries, 1 s doubling (about an hour). */
export const SETTLE_JOB_OPTIONS: JobsOptions = { attempts: 12, backoff: { type: 'exponential', delay: 1000 } };

/**
 * Stalled-job settings of score workers. A job's lock lasts lockDuration (30 s) and is renewed every half
 * of it; every stalledInterval (15 s) a worker moves jobs whose lock expired back to wait, so a crashed
 * worker's batch runs again 30-45 s after the crash. maxStalledCount is above any job's attempts so that
 * BullMQ never fails a job for stalling by itself: the batch processor counts every start (crash or
 * failure) against the batch's attempts instead, so a crash costs one attempt, not the whole job.
 */
export const STALLED = { lockDurationMs: 30_000, stalledIntervalMs: 15_000, maxStalledCount: 12 } as const;

/** BullMQ needs maxRetriesPerRequest: null on connections used by workers. */
export function createRedis(target: string | RedisTarget): Redis {
  return createWorkerRedis(target);
}

export function createScoreQueue(connection: Redis, prefix: string, env: NodeJS.ProcessEnv = process.env): Queue {
  // The event stream is capped at 1,000 entries (BullMQ's default, 10,000, is about 1 MB that grows with a run's first jobs); nothing here reads it.
  const queue = new Queue(SCORE_QUEUE, {
    connection,
    prefix,
    defaultJobOptions: batchJobOptions(env),
    streams: { events: { maxLen: 1000 } },
  });
  queueErrorsTo(queue, () => undefined);
  return queue;
}

/** A queue's errors: connection errors (outages, a refused password or certificate) are the ConnectionWatch's to report (once); others, a NOPERM too, go to `log`. */
export function queueErrorsTo(
  emitter: { on(event: 'error', fn: (err: Error) => void): unknown },
  log: (err: Error) => void,
): void {
  emitter.on('error', (err) => {
    if (!isConnectionError(err) && !isFatalRedisError(err)) log(err);
  });
}
