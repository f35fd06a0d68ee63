import os from 'node:os';
import path from 'node:path';
import { Worker, type Job, type Queue } from 'bullmq';
import { repoRoot } from '../shared/paths.js';
import { decidingRetries } from '../shared/retry-decision.js';
import type { Logger } from '../shared/logger.js';
import { ConnectionWatch } from '../shared/connection-watch.js';
import {
  createScoreQueue,
  JOB_BATCH,
  JOB_SETTLE,
  queueErrorsTo,
  SCORE_QUEUE,
  SETTLE_JOB_OPTIONS,
  STALLED,
} from '../shared/queue.js';
import { createWorkerRedis, type RedisTlsFiles } from '../shared/redis-connection.js';
import { loadConfig, type Config } from '../shared/config.js';
import { processCrash, type BatchJobData, type SettleJobData } from '../run/index.js';
import { startEvalWorker } from '../eval/eval-worker.js';
import { EVAL_QUEUE } from '../eval/types.js';
import { TRAIN_QUEUE } from '../train-queue/jobs.js';
import { sandboxEnv } from './sandbox-env.js';
import { ownConnection } from './shutdown.js';

export interface WorkerOptions {
  redisUrl: string;
  /** TLS files for a rediss:// URL. */
  redisTls?: RedisTlsFiles;
  prefix: string;
  logger: Logger;
  /** Sandboxed processes running jobs at once; default one per core. */
  concurrency?: number;
  lockDurationMs?: number;
  stalledIntervalMs?: number;
  queues?: string[];
  /** For the in-process eval worker (S3 access); default from the environment. */
  config?: Config;
  /** Reports the workers' Redis connection state (one line per change); one is made when absent. */
  watch?: ConnectionWatch;
  /** Runs score-queue jobs in this process instead of sandboxes (`--inference shared`). */
  scoreProcessor?: (job: Job) => Promise<unknown>;
}

/** A queue's compiled sandbox entry (one per queue, so each reaches only its own handler); it runs in child processes, so it must be JavaScript. */
export function sandboxFile(queue: string): string {
  return path.join(repoRoot(), 'dist', 'worker', queue === TRAIN_QUEUE ? 'train-sandbox.js' : 'sandbox.js');
}

/**
 * A batch job that failed for good (attempts used up, stalled too often, or unrecoverable) is recorded by
 * a settle job, so its keys become failures and the run can end. A settle job outlives a long outage.
 */
async function settleIfExhausted(queue: Queue, job: Job, err: Error, logger: Logger): Promise<void> {
  try {
    if ((await job.getState()) !== 'failed') return;
    // A crash of the job's own process is named, so the settle splits a batch of several keys (isolate.ts).
    const crash = processCrash(err.message);
    const data: SettleJobData = {
      ...(job.data as BatchJobData),
      reason: err.message,
      attempts: job.attemptsMade,
      ...(crash ? { crash } : {}),
    };
    await queue.add(JOB_SETTLE, data, { jobId: `${job.id}-settle`, ...SETTLE_JOB_OPTIONS });
  } catch (e) {
    logger.error(
      { jobId: job.id, err: (e as Error).message },
      'could not record the exhausted batch; cxr score --resume will re-run it',
    );
  }
}

/** Starts workers for the requested queues; model work runs in BullMQ sandboxed child processes. */
export function startWorkers(opts: WorkerOptions): Worker[] {
  const queues = opts.queues ?? [SCORE_QUEUE];
  const known = [SCORE_QUEUE, TRAIN_QUEUE, EVAL_QUEUE];
  const unknown = queues.filter((q) => !known.includes(q));
  if (unknown.length) throw new Error(`unknown queue(s): ${unknown.join(', ')} (known: ${known.join(', ')})`);
  const concurrency = opts.concurrency ?? os.availableParallelism();
  const watch = opts.watch ?? new ConnectionWatch(opts.logger, opts.redisUrl);
  // Sandboxed processes inherit it and size their ONNX Runtime thread pools from it (cores / concurrency).
  process.env.CXR_WORKER_CONCURRENCY = String(concurrency);
  return queues.map((name) => {
    if (name === EVAL_QUEUE) {
      // In process, not in a sandboxed slot: see startEvalWorker.
      const worker = startEvalWorker(opts.config ?? loadConfig(process.env), opts.logger, watch);
      worker.on('failed', (job, err) => opts.logger.error({ jobId: job?.id, err: err.message }, 'evaluation failed'));
      opts.logger.info({ queue: name, pid: process.pid }, 'eval worker started');
      return worker;
    }
    const connection = createWorkerRedis({ url: opts.redisUrl, tls: opts.redisTls });
    watch.attach(connection);
    const queue = createScoreQueue(connection, opts.prefix);
    // In process (--inference shared) or sandboxed (sandbox-entry.ts), errors go through the same retry decision.
    const processor =
      name === SCORE_QUEUE && opts.scoreProcessor ? decidingRetries(opts.scoreProcessor) : sandboxFile(name);
    const worker = new Worker(name, processor, {
      connection,
      prefix: opts.prefix,
      concurrency,
      lockDuration: opts.lockDurationMs ?? STALLED.lockDurationMs,
      stalledInterval: opts.stalledIntervalMs ?? STALLED.stalledIntervalMs,
      maxStalledCount: STALLED.maxStalledCount,
      useWorkerThreads: false,
      // The slot's allocator and V8 settings (sandbox-env.ts), read once at the sandbox's start.
      workerForkOptions: { env: sandboxEnv(process.env) },
    });
    ownConnection(worker, connection);
    worker.on('failed', (job, err) => {
      opts.logger.error({ jobId: job?.id, attemptsMade: job?.attemptsMade, err: err.message }, 'job failed');
      if (job && name === SCORE_QUEUE && job.name === JOB_BATCH) void settleIfExhausted(queue, job, err, opts.logger);
    });
    worker.on('stalled', (jobId) =>
      opts.logger.warn({ jobId }, 'job stalled (its worker stopped renewing the lock); it runs again'),
    );
    queueErrorsTo(worker, (err) => opts.logger.error({ err: err.message }, 'worker error'));
    worker.on('closed', () => {
      watch.detach(connection);
      void queue.close().finally(() => connection.disconnect());
    });
    opts.logger.info({ queue: name, concurrency, pid: process.pid }, 'worker started');
    return worker;
  });
}
