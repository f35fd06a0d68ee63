import type { S3Client } from '@aws-sdk/client-s3';
import type { S3Location } from '../shared/s3/uri.js';
import { TransientError } from '../shared/errors.js';
import { getTextIfExists, putJson } from '../shared/s3/objects.js';
import { runLayout } from './layout.js';
import { incompleteBatches } from './plan.js';
import { isEnded, mergedStatus } from './state.js';
import type { FinalizeJobData } from './types.js';
import { ensureRunInRedis, startGeneration, type RunDeps } from './reconcile.js';
import { loadRunRecord, readManifest } from './run-record.js';
import type { MissingReason } from './merge-parts.js';
import { mergeRun } from './merge-run.js';
import { buildRunMetrics, type RunMetrics } from './run-metrics.js';

export interface FinalizeDeps extends RunDeps {
  /**
   * Runs after a labelled run's outputs and metrics are in S3 (the worker writes the run report there).
   * Given by the caller: the report sits above the run, and a finalize without it only skips the report.
   * It must log, not throw: a report problem cannot fail the run.
   */
  report?: (out: S3Location, runId: string) => Promise<void>;
}

export type FinalizeOutcome =
  | { kind: 'merged'; metrics: RunMetrics }
  | { kind: 'skipped'; why: string }
  | { kind: 'rebuilt'; pending: number }
  | { kind: 'repaired'; batches: number };

/**
 * Ends a run from what S3 records. Merges the parts into predictions, failures and metrics only when
 * every planned batch has its part in S3 (or the run has failed); when Redis lost the run it rebuilds it
 * from S3 instead; when Redis counted a batch S3 has no part for, that batch runs again. Safe to repeat.
 */
export async function finalizeRun(deps: FinalizeDeps, job: FinalizeJobData): Promise<FinalizeOutcome> {
  const manifest = await readManifest(deps.s3, job.out, job.runId);
  const state = await deps.store.get(job.runId);
  if (!state) {
    const { pending } = await ensureRunInRedis(deps, manifest);
    deps.logger.warn({ pending }, 'the run was missing from Redis (Redis lost its data?); rebuilt it from S3');
    return { kind: 'rebuilt', pending };
  }
  if (state.generation !== job.generation)
    return { kind: 'skipped', why: `generation ${job.generation} is not the run's current ${state.generation}` };
  if (state.status === 'running' && state.doneBatches < state.totalBatches)
    return { kind: 'skipped', why: 'the run has unfinished batches' };
  if (isEnded(state.status) && state.status !== 'failed') return { kind: 'skipped', why: `already ${state.status}` };

  // Only a failed run gets here while listing: retried with backoff, and the producer asks again when its listing ends.
  if (state.listing)
    throw new TransientError(`run ${job.runId} is still being listed; the finalize waits for its manifest`);

  const failed = state.status === 'failed';
  const record = await loadRunRecord(deps.s3, manifest);
  const incomplete = incompleteBatches(record);
  if (incomplete.length && !failed) {
    deps.logger.error(
      { batches: incomplete.slice(0, 20), count: incomplete.length },
      'Redis counted batches as done that have no part in S3; running them again',
    );
    const chosen = new Set(incomplete);
    const plan = await startGeneration(deps, record, (b) => chosen.has(b), 'repair');
    return { kind: 'repaired', batches: plan.batchCount };
  }

  const reason = state.reason ?? 'unknown reason';
  const missing: MissingReason | undefined = failed
    ? () => ({ stage: 'batch', reason: `not scored: the run failed: ${reason}` })
    : undefined;
  const started = Date.now();
  const { tally, shards, reads } = await mergeRun(deps.s3, record, missing);
  const status = failed ? 'failed' : mergedStatus(tally.failed);
  const metrics = buildRunMetrics(manifest, tally, new Date(), {
    state: status,
    reason: state.reason,
    generation: state.generation,
  });
  const layout = runLayout(job.out, job.runId);
  await putJson(deps.s3, layout.bucket, layout.metrics, metrics);
  const counts = { scored: tally.scored, failed: tally.failed };
  if (!(await deps.store.finish(job.runId, state.generation, status, counts, metrics.finishedAt))) {
    return { kind: 'skipped', why: 'the run moved to a later generation while merging' };
  }
  const ms = Date.now() - started;
  deps.logger.info(
    {
      state: status,
      ...counts,
      ms,
      keysPerSec: Math.round((manifest.totalKeys * 1000) / Math.max(1, ms)),
      shards,
      reads,
    },
    'run finalized',
  );
  if (metrics.classification && !failed) await deps.report?.(job.out, job.runId);
  return { kind: 'merged', metrics };
}

export async function readRunMetrics(
  s3: S3Client,
  job: Pick<FinalizeJobData, 'out' | 'runId'>,
): Promise<RunMetrics | undefined> {
  const layout = runLayout(job.out, job.runId);
  const text = await getTextIfExists(s3, layout.bucket, layout.metrics);
  return text ? (JSON.parse(text) as RunMetrics) : undefined;
}
