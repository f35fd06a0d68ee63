import type { Job } from 'bullmq';
import { contextFromEnv } from '../context.js';
import { handleJob } from '../handle-job.js';
import { startSharedClassifier, type SharedOptions } from './shared-classifier.js';

/**
 * The score-queue processor of `--inference shared`: jobs run in this process (no sandbox per slot), their
 * download and decode concurrent on libuv's pool, their inference on the one shared executor thread.
 */
export async function sharedScoreProcessor(opts: SharedOptions): Promise<{ processor: (job: Job) => Promise<unknown>; backend: string; close(): void }> {
  const classifier = await startSharedClassifier(opts);
  const ctx = { ...contextFromEnv(), classifier: async () => classifier };
  return { processor: (job) => handleJob(ctx, job), backend: classifier.backend, close: () => classifier.dispose() };
}
