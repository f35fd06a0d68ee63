import type { Job } from 'bullmq';
import type { ConnectionWatch } from '../../shared/connection-watch.js';
import { contextFromEnv } from '../context.js';
import { handleScoreJob } from '../handle-job.js';
import { startSharedClassifier, type SharedOptions } from './shared-classifier.js';

/**
 * The score-queue processor of `--inference shared`: jobs run in this process (no sandbox per slot), their
 * download and decode concurrent on libuv's pool, their inference on the one shared executor thread.
 * close() ends what it opened, each step within a deadline: the inference thread and the context's Redis
 * connection, queue and S3 client (a Redis connection left open keeps the process alive and reconnecting
 * after the server is gone). `watch` is the worker's: the context's connection is reported with the others.
 */
export async function sharedScoreProcessor(
  opts: SharedOptions,
  watch?: ConnectionWatch,
): Promise<{ processor: (job: Job) => Promise<unknown>; backend: string; close(): Promise<void> }> {
  const classifier = await startSharedClassifier(opts);
  const base = contextFromEnv(process.env, watch);
  // Every slot scores in this process at once: no stage's CPU is one batch's own.
  const ctx = { ...base, classifier: async () => classifier, stageCpu: false };
  return {
    processor: (job) => handleScoreJob(ctx, job),
    backend: classifier.backend,
    close: async () => {
      classifier.dispose();
      await base.close();
    },
  };
}
