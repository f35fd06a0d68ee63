import type { Logger } from '../shared/logger.js';
import { scheduleFinalize } from './finalize-job.js';
import type { MarkResult } from './run-store.js';
import type { BatchJobData } from './types.js';
import { feedWaitingRuns, topUp } from './feed.js';
import { readHeader } from './run-record.js';
import { runLayout } from './layout.js';
import { putObject } from '../shared/s3/objects.js';
import type { PartLine } from './types.js';
import type { S3Client } from '@aws-sdk/client-s3';
import type { RunDeps } from './reconcile.js';

/** What recording a batch needs: S3 for the run's objects, Redis for its counters, the queue to feed. */
export type BatchDeps = Pick<RunDeps, 'store' | 'queue' | 's3'>;

/**
 * Counts a batch whose part is in S3, then asks for the finalize when it was the run's last one, or for
 * a rebuild from S3 when Redis no longer has the run.
 */
export async function recordBatchDone(
  ctx: BatchDeps,
  data: BatchJobData,
  counts: { scored: number; failed: number },
  logger: Logger,
): Promise<MarkResult> {
  const generation = data.generation ?? 0;
  const mark = await ctx.store.markBatchDone(data.runId, data.batch, generation, counts.scored, counts.failed);
  if (mark.outcome === 'unknown-run') {
    logger.warn('the run is missing from Redis (Redis lost its data?); asking a worker to rebuild it from S3');
    await scheduleFinalize(ctx.queue, data.runId, data.out, generation, 'recover');
  } else if (
    mark.status === 'running' &&
    !mark.listing &&
    mark.outcome !== 'stale' &&
    mark.doneBatches >= mark.totalBatches
  ) {
    await scheduleFinalize(ctx.queue, data.runId, data.out, mark.generation);
    // The run's last batch leaves room that runs waiting behind the window may take.
    await feedWaitingAfter(ctx, logger);
  } else {
    if (mark.outcome === 'stale')
      logger.info('batch not counted: the run re-planned it in a later attempt generation (its part stays in S3)');
    // Stale jobs leave the window too: feed, or a window full of them would stall the new generation.
    if (mark.status === 'running') await topUpAfter(ctx, data, logger);
    else await feedWaitingAfter(ctx, logger);
  }
  return mark;
}

/** Writes a job's part: its batch's in its attempt generation, or its slice's (an overwrite: a retry writes the same keys). */
export async function writePart(s3: S3Client, data: BatchJobData, lines: readonly PartLine[]): Promise<void> {
  const layout = runLayout(data.out, data.runId);
  await putObject(
    s3,
    layout.bucket,
    layout.part(data.batch, data.generation ?? 0, data.slice),
    lines.map((l) => JSON.stringify(l)).join('\n') + '\n',
    'application/x-ndjson',
  );
}

/** Feeds the run's next batches into the queue as one leaves it; a failure here only delays feeding (the next batch, or score again, feeds). */
export async function topUpAfter(ctx: BatchDeps, data: BatchJobData, logger: Logger): Promise<void> {
  try {
    const header = await readHeader(ctx.s3, data.out, data.runId);
    await topUp({ ...ctx, logger }, header, 1); // this batch's job is still in the queue, about to leave it
  } catch (err) {
    logger.warn({ err: (err as Error).message }, 'could not feed the next batches');
  }
  await feedWaitingAfter(ctx, logger);
}

/** Feeds the runs waiting for room in the window (feed.ts feedWaitingRuns); a failure only delays them. */
async function feedWaitingAfter(ctx: BatchDeps, logger: Logger): Promise<void> {
  try {
    await feedWaitingRuns({ ...ctx, logger }, (out, runId) => readHeader(ctx.s3, out, runId), 1);
  } catch (err) {
    logger.warn({ err: (err as Error).message }, 'could not feed the runs waiting for the window');
  }
}
