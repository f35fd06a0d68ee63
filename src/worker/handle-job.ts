import { UnrecoverableError } from 'bullmq';
import type { Logger } from '../shared/logger.js';
import { JOB_BATCH, JOB_FINALIZE, JOB_SETTLE } from '../shared/queue.js';
import {
  scheduleFinalize,
  type BatchJobData,
  type FinalizeJobData,
  type SettleJobData,
  finalizeRun,
  processCrash,
  recordPart,
  settleBatch,
  sliceOf,
  splitAfterCrash,
  batchItemsOf,
  topUpAfter,
} from '../run/index.js';
import type { WorkerContext } from './context.js';
import type { S3Location } from '../shared/s3/uri.js';
import { scoreBatch } from './score-batch.js';
import { countFailures } from './http/failure-class.js';

export interface JobLike {
  id?: string;
  name: string;
  data: unknown;
  /** Times BullMQ has started this job, crashes included. */
  attemptsStarted?: number;
  /** Attempts that failed (a crash of the sandboxed process included; a stall not). */
  attemptsMade?: number;
  /** The last failed attempt's error: JSON-encoded in a sandbox (BullMQ's asJSON), plain in process. */
  failedReason?: string | null;
  opts?: { attempts?: number };
}

/** Runs one score-queue job: a batch, the record of an exhausted batch (settle), or a finalize. */
export async function handleScoreJob(ctx: WorkerContext, job: JobLike): Promise<unknown> {
  if (job.name === JOB_BATCH) {
    const data = job.data as BatchJobData;
    return runBatch(
      ctx,
      job,
      data,
      ctx.logger.child({ runId: data.runId, batch: data.batch, generation: data.generation ?? 0, jobId: job.id }),
    );
  }
  if (job.name === JOB_SETTLE) {
    const data = job.data as SettleJobData;
    return settleBatch(
      ctx,
      data,
      ctx.logger.child({ runId: data.runId, batch: data.batch, generation: data.generation ?? 0, jobId: job.id }),
    );
  }
  if (job.name === JOB_FINALIZE) {
    const data = job.data as FinalizeJobData;
    const outcome = await finalizeRun({ ...ctx, report: (out, runId) => writeRunReport(ctx, out, runId) }, data);
    return outcome.kind === 'merged' ? { counts: outcome.metrics.counts, state: outcome.metrics.state } : outcome;
  }
  throw new Error(`unknown job name ${JSON.stringify(job.name)} on the score queue`);
}

async function runBatch(ctx: WorkerContext, job: JobLike, data: BatchJobData, logger: Logger): Promise<unknown> {
  const standing = await ctx.store.batchStanding(data.runId, data.batch, data.generation ?? 0);
  if (standing === 'stale' || standing === 'run-failed' || standing === 'done') {
    logger.info({ standing }, 'batch skipped');
    if (standing !== 'run-failed') await topUpAfter(ctx, data, logger);
    return { skipped: standing };
  }
  // Every start counts, crashes included (BullMQ counts only failures as attempts).
  const attempts = job.opts?.attempts ?? 1;
  if ((job.attemptsStarted ?? 1) > attempts) {
    throw new UnrecoverableError(
      `the batch was started ${job.attemptsStarted} times (crashes count as attempts): its ${attempts} attempts are used up`,
    );
  }
  let classifier;
  let trainingSet;
  try {
    classifier = await ctx.classifier();
    trainingSet = await ctx.trainingSet?.();
  } catch (err) {
    const reason = `model load failed: ${(err as Error).message}`;
    const generation = await ctx.store.fail(data.runId, reason);
    if (generation !== undefined) {
      logger.error({ reason }, 'the run failed: the model cannot be loaded');
      await scheduleFinalize(ctx.queue, data.runId, data.out, generation);
    }
    throw new UnrecoverableError(reason);
  }
  const items = await batchItemsOf(ctx.s3, data);
  // The last attempt's process crashed under these keys: split them rather than crash again (isolate.ts).
  const crash = processCrash(lastFailure(job.failedReason));
  if (crash) {
    const split = await splitAfterCrash(ctx, data, items.length, job.attemptsMade ?? 1, logger);
    if (split) return split;
  }
  const { start, end } = sliceOf(data, items.length);
  const { meta, lines } = await scoreBatch(
    {
      s3: ctx.s3,
      classifier,
      logger,
      readImages: ctx.readImages,
      trainingSet,
      coldStartMs: ctx.takeColdStartMs(),
      crashMarker: ctx.crashMarker,
      stageCpu: ctx.stageCpu,
    },
    data,
    items.slice(start, end),
  );
  const record = { scored: meta.scored, failed: meta.failed, attempts: (job.attemptsMade ?? 0) + 1, meta };
  const mark = await recordPart(ctx, data, items.length, record, logger);
  logger.info(
    {
      scored: meta.scored,
      failed: meta.failed,
      stageMs: meta.stageMs,
      ...(data.slice ? { slice: data.slice } : {}),
      ...(mark ? { done: mark.doneBatches, total: mark.totalBatches } : {}),
    },
    'batch scored',
  );
  // failures by stage and reason class: the parent's /metrics counts them (see http/prometheus.ts).
  return { scored: meta.scored, failed: meta.failed, stageMs: meta.stageMs, failures: countFailures(lines) };
}

/** The last failed attempt's error message: BullMQ hands a sandbox the job as JSON, its failedReason JSON-encoded. */
function lastFailure(reason: string | null | undefined): string | undefined {
  if (!reason) return undefined;
  try {
    const decoded: unknown = JSON.parse(reason);
    return typeof decoded === 'string' ? decoded : undefined;
  } catch {
    return reason; // in process (--inference shared): the message itself
  }
}

/** The finalize's report of a labelled run (charts and Grad-CAM): loaded only when needed, logged, never thrown. */
async function writeRunReport(ctx: WorkerContext, out: S3Location, runId: string): Promise<void> {
  const { reportAfterFinalize } = await import('../report/write-run-report.js');
  await reportAfterFinalize({ s3: ctx.s3, logger: ctx.logger }, out, runId);
}
