import { JOB_BATCH, JOB_FINALIZE } from '../shared/queue.js';
import { scheduleFinalize } from '../shared/run/finalize-job.js';
import type { BatchJobData, FinalizeJobData } from '../shared/run/types.js';
import type { WorkerContext } from './context.js';
import { finalizeRun } from './finalize-run.js';
import { scoreBatch } from './score-batch.js';
import { handleTrainJob, isTrainJob } from '../train-queue/handle-train-job.js';

export interface JobLike {
  id?: string;
  name: string;
  data: unknown;
}

/** Runs one score-queue job: a batch (then, if it was the run's last, schedules the finalize) or a finalize. */
export async function handleJob(ctx: WorkerContext, job: JobLike): Promise<unknown> {
  if (isTrainJob(job.name)) return handleTrainJob(ctx, job); // train queue: shard and merge jobs
  if (job.name === JOB_BATCH) {
    const data = job.data as BatchJobData;
    const logger = ctx.logger.child({ runId: data.runId, batch: data.batch, jobId: job.id });
    const { meta } = await scoreBatch({ s3: ctx.s3, classifier: await ctx.classifier(), logger }, data);
    const done = await ctx.store.markBatchDone(data.runId, job.id ?? String(data.batch), meta.scored, meta.failed);
    logger.info({ scored: meta.scored, failed: meta.failed, stageMs: meta.stageMs, ...done }, 'batch scored');
    if (done.doneBatches >= done.totalBatches) await scheduleFinalize(ctx.queue, data.runId, data.out, done.totalBatches);
    return { scored: meta.scored, failed: meta.failed, stageMs: meta.stageMs };
  }
  if (job.name === JOB_FINALIZE) {
    const data = job.data as FinalizeJobData;
    const metrics = await finalizeRun({ s3: ctx.s3, store: ctx.store, logger: ctx.logger.child({ runId: data.runId, jobId: job.id }) }, data);
    return metrics ? { counts: metrics.counts } : { skipped: true };
  }
  throw new Error(`unknown job name ${JSON.stringify(job.name)} on the score queue`);
}
