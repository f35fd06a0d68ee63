import type { S3Client } from '@aws-sdk/client-s3';
import { stringify } from 'csv-stringify/sync';
import { getTextIfExists, putJson, putObject } from '../shared/s3/objects.js';
import { runLayout } from '../shared/run/layout.js';
import { incompleteBatches, planKeys } from '../shared/run/plan.js';
import { isEnded, mergedStatus } from '../shared/run/state.js';
import type { FinalizeJobData, PredictionLine } from '../shared/run/types.js';
import { ensureRunInRedis, startGeneration, type RunDeps } from '../producer/reconcile.js';
import { loadRunRecord, predictedKeys, readManifest, readParts } from '../producer/run-record.js';
import { mergeParts, type MissingReason } from './merge-parts.js';
import { buildRunMetrics, type RunMetrics } from './run-metrics.js';

export type FinalizeDeps = RunDeps;

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
  let state = await deps.store.get(job.runId);
  if (!state) {
    const { pending } = await ensureRunInRedis(deps, manifest);
    deps.logger.warn({ pending }, 'the run was missing from Redis (Redis lost its data?); rebuilt it from S3');
    return { kind: 'rebuilt', pending };
  }
  if (state.generation !== job.generation) return { kind: 'skipped', why: `generation ${job.generation} is not the run's current ${state.generation}` };
  if (state.status === 'running' && state.doneBatches < state.totalBatches) return { kind: 'skipped', why: 'the run has unfinished batches' };
  if (isEnded(state.status) && state.status !== 'failed') return { kind: 'skipped', why: `already ${state.status}` };

  const failed = state.status === 'failed';
  const record = await loadRunRecord(deps.s3, manifest);
  const incomplete = incompleteBatches(record);
  if (incomplete.length && !failed) {
    deps.logger.error({ batches: incomplete.slice(0, 20), count: incomplete.length }, 'Redis counted batches as done that have no part in S3; running them again');
    const predicted = predictedKeys(await readParts(deps.s3, manifest, record.parts));
    const plan = await startGeneration(deps, record, planKeys(manifest, incomplete, predicted), predicted, 'repair');
    return { kind: 'repaired', batches: plan.batches.length };
  }

  const parts = await readParts(deps.s3, manifest, record.parts, true);
  const reason = state.reason ?? 'unknown reason';
  const missing: MissingReason | undefined = failed ? () => ({ stage: 'batch', reason: `not scored: the run failed: ${reason}` }) : undefined;
  const merged = mergeParts(manifest.items, parts.map((p) => p.lines), missing);
  const status = failed ? 'failed' : mergedStatus(merged.failures.length);
  const metrics = buildRunMetrics(
    manifest,
    merged,
    parts.flatMap((p) => (p.meta ? [p.meta] : [])),
    new Date(),
    { state: status, reason: state.reason, generation: state.generation },
  );

  const layout = runLayout(job.out, job.runId);
  const jsonl = (rows: unknown[]) => rows.map((r) => JSON.stringify(r)).join('\n') + (rows.length ? '\n' : '');
  await Promise.all([
    putObject(deps.s3, layout.bucket, layout.predictionsJsonl, jsonl(merged.predictions), 'application/x-ndjson'),
    putObject(deps.s3, layout.bucket, layout.predictionsCsv, predictionsCsv(merged.predictions), 'text/csv'),
    putObject(deps.s3, layout.bucket, layout.failures, jsonl(merged.failures), 'application/x-ndjson'),
  ]);
  await putJson(deps.s3, layout.bucket, layout.metrics, metrics);
  const counts = { scored: merged.predictions.length, failed: merged.failures.length };
  if (!(await deps.store.finish(job.runId, state.generation, status, counts, metrics.finishedAt))) {
    return { kind: 'skipped', why: 'the run moved to a later generation while merging' };
  }
  deps.logger.info({ state: status, ...counts }, 'run finalized');
  if (metrics.classification && !failed) {
    const { reportAfterFinalize } = await import('../report/run-report-hook.js'); // charts and Grad-CAM: loaded only when needed
    await reportAfterFinalize({ s3: deps.s3, logger: deps.logger }, job.out, job.runId);
  }
  return { kind: 'merged', metrics };
}

export function predictionsCsv(rows: readonly PredictionLine[]): string {
  return stringify(
    rows.map((p) => [p.key, p.etag, p.label, p.probability, p.threshold, p.modelId, p.modelVersion, p.trueLabel ?? '']),
    { header: true, columns: ['key', 'etag', 'label', 'probability', 'threshold', 'model_id', 'model_version', 'true_label'] },
  );
}

export async function readRunMetrics(s3: S3Client, job: Pick<FinalizeJobData, 'out' | 'runId'>): Promise<RunMetrics | undefined> {
  const layout = runLayout(job.out, job.runId);
  const text = await getTextIfExists(s3, layout.bucket, layout.metrics);
  return text ? (JSON.parse(text) as RunMetrics) : undefined;
}
