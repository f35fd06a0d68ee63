import os from 'node:os';
import path from 'node:path';
import { Worker } from 'bullmq';
import { repoRoot } from '../shared/paths.js';
import type { Logger } from '../shared/logger.js';
import { redisConnectionOptions, SCORE_QUEUE } from '../shared/queue.js';
import { loadConfig, type Config } from '../shared/config.js';
import { startEvalWorker } from '../eval/eval-worker.js';
import { EVAL_QUEUE } from '../eval/types.js';
import { TRAIN_QUEUE } from '../train-queue/jobs.js';

export interface WorkerOptions {
  redisUrl: string;
  prefix: string;
  logger: Logger;
  /** Sandboxed processes running jobs at once; default one per core. */
  concurrency?: number;
  lockDurationMs?: number;
  queues?: string[];
  /** For the in-process eval worker (S3 access); default from the environment. */
  config?: Config;
}

/** The compiled sandbox entry; it runs in child processes, so it must be JavaScript. */
export function sandboxFile(): string {
  return path.join(repoRoot(), 'dist', 'worker', 'sandbox.js');
}

/** Starts workers for the requested queues; model work runs in BullMQ sandboxed child processes. */
export function startWorkers(opts: WorkerOptions): Worker[] {
  const queues = opts.queues ?? [SCORE_QUEUE];
  const known = [SCORE_QUEUE, TRAIN_QUEUE, EVAL_QUEUE];
  const unknown = queues.filter((q) => !known.includes(q));
  if (unknown.length) throw new Error(`unknown queue(s): ${unknown.join(', ')} (known: ${known.join(', ')})`);
  const concurrency = opts.concurrency ?? os.availableParallelism();
  // Sandboxed processes inherit it and size their ONNX Runtime thread pools from it (cores / concurrency).
  process.env.CXR_WORKER_CONCURRENCY = String(concurrency);
  return queues.map((name) => {
    if (name === EVAL_QUEUE) {
      // In process, not in a sandboxed slot: see startEvalWorker.
      const worker = startEvalWorker(opts.config ?? loadConfig(process.env), opts.logger);
      worker.on('failed', (job, err) => opts.logger.error({ jobId: job?.id, err: err.message }, 'evaluation failed'));
      opts.logger.info({ queue: name, pid: process.pid }, 'eval worker started');
      return worker;
    }
    const worker = new Worker(name, sandboxFile(), {
      connection: redisConnectionOptions(opts.redisUrl),
      prefix: opts.prefix,
      concurrency,
      lockDuration: opts.lockDurationMs ?? 30_000,
      useWorkerThreads: false,
    });
    worker.on('failed', (job, err) => opts.logger.error({ jobId: job?.id, attemptsMade: job?.attemptsMade, err: err.message }, 'job failed'));
    worker.on('stalled', (jobId) => opts.logger.warn({ jobId }, 'job stalled'));
    worker.on('error', (err) => opts.logger.error({ err: err.message }, 'worker error'));
    opts.logger.info({ queue: name, concurrency, pid: process.pid }, 'worker started');
    return worker;
  });
}
