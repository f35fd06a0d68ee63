import { Redis } from 'ioredis';
import { Queue, type ConnectionOptions, type JobsOptions } from 'bullmq';

export const SCORE_QUEUE = 'score';
export const JOB_BATCH = 'batch';
export const JOB_FINALIZE = 'finalize';

/** Retries with exponential backoff for whole-batch failures (S3 or Redis down); results kept a week so re-enqueueing is a no-op. */
export const DEFAULT_JOB_OPTIONS: JobsOptions = {
  attempts: 6,
  backoff: { type: 'exponential', delay: 2000 },
  removeOnComplete: { age: 7 * 24 * 3600 },
  removeOnFail: { age: 30 * 24 * 3600 },
};

/** BullMQ needs maxRetriesPerRequest: null on connections used by workers. */
export function createRedis(url: string): Redis {
  return new Redis(url, { maxRetriesPerRequest: null, enableReadyCheck: true, lazyConnect: false });
}

export function redisConnectionOptions(url: string): ConnectionOptions {
  const u = new URL(url);
  return {
    host: u.hostname,
    port: Number(u.port || 6379),
    username: u.username || undefined,
    password: u.password ? decodeURIComponent(u.password) : undefined,
    db: u.pathname.length > 1 ? Number(u.pathname.slice(1)) : 0,
    tls: u.protocol === 'rediss:' ? {} : undefined,
    maxRetriesPerRequest: null,
  };
}

export function createScoreQueue(connection: Redis, prefix: string): Queue {
  return new Queue(SCORE_QUEUE, { connection, prefix, defaultJobOptions: DEFAULT_JOB_OPTIONS });
}
