import type { Job } from 'bullmq';
import { contextFromEnv } from '../context.js';
import { handleScoreJob } from '../handle-job.js';
import { startSharedClassifier, type SharedOptions } from './shared-classifier.js';

/**
 * The score-queue processor of `--inference shared`: jobs run in this process (no sandbox per slot), their
 * download and decode concurrent on libuv's pool, their inference on the one shared executor thread.
 * close() ends what it opened: the inference thread and the context's Redis connection, queue and S3 client
 * (a Redis connection left open keeps the process alive and reconnecting after the server is gone).
 */
export async function sharedScoreProcessor(
  opts: SharedOptions,
): Promise<{ processor: (job: Job) => Promise<unknown>; backend: string; close(): Promise<void> }> {
  const classifier = await startSharedClassifier(opts);
  const base = contextFromEnv();
  const ctx = { ...base, classifier: async () => classifier };
  return {
    processor: (job) => handleScoreJob(ctx, job),
    backend: classifier.backend,
    close: async () => {
      classifier.dispose();
      await base.queue.close();
      base.redis.disconnect();
      base.s3.destroy();
    },
  };
}
