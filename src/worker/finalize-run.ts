import type { S3Client } from '@aws-sdk/client-s3';
import { getTextIfExists, putJson } from '../shared/s3/objects.js';
import { openUploadStream } from '../shared/s3/upload-stream.js';
import { runLayout } from '../shared/run/layout.js';
import { incompleteBatches, type RunRecord } from '../shared/run/plan.js';
import { isEnded, mergedStatus } from '../shared/run/state.js';
import { RunTally } from '../shared/run/tally.js';
import type { FinalizeJobData, PartLine, PredictionLine } from '../shared/run/types.js';
import { ensureRunInRedis, planRun, startGeneration, type RunDeps } from '../shared/run/reconcile.js';
import { loadRunRecord, readManifest, walkBatches } from '../shared/run/run-record.js';
import { mergeParts, type MissingReason } from '../shared/run/merge-parts.js';
import { buildRunMetrics, type RunMetrics } from '../shared/run/run-metrics.js';

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

  // Only a failed run gets here while listing: retried with backoff, and the producer asks again when its listing ends.
  if (state.listing) throw new Error(`run ${job.runId} is still being listed; the finalize waits for its manifest`);

  const failed = state.status === 'failed';
  const record = await loadRunRecord(deps.s3, manifest);
  const incomplete = incompleteBatches(record);
  if (incomplete.length && !failed) {
    deps.logger.error({ batches: incomplete.slice(0, 20), count: incomplete.length }, 'Redis counted batches as done that have no part in S3; running them again');
    const chosen = new Set(incomplete);
    const plan = await startGeneration(deps, record, await planRun(deps.s3, record, (b) => chosen.has(b)), 'repair');
    return { kind: 'repaired', batches: plan.batches.length };
  }

  const reason = state.reason ?? 'unknown reason';
  const missing: MissingReason | undefined = failed ? () => ({ stage: 'batch', reason: `not scored: the run failed: ${reason}` }) : undefined;
  const started = Date.now();
  const tally = await mergeRun(deps.s3, record, missing);
  const status = failed ? 'failed' : mergedStatus(tally.failed);
  const metrics = buildRunMetrics(manifest, tally, new Date(), { state: status, reason: state.reason, generation: state.generation });
  const layout = runLayout(job.out, job.runId);
  await putJson(deps.s3, layout.bucket, layout.metrics, metrics);
  const counts = { scored: tally.scored, failed: tally.failed };
  if (!(await deps.store.finish(job.runId, state.generation, status, counts, metrics.finishedAt))) {
    return { kind: 'skipped', why: 'the run moved to a later generation while merging' };
  }
  const ms = Date.now() - started;
  deps.logger.info({ state: status, ...counts, ms, keysPerSec: Math.round((manifest.totalKeys * 1000) / Math.max(1, ms)) }, 'run finalized');
  if (metrics.classification && !failed) {
    const { reportAfterFinalize } = await import('../report/run-report-hook.js'); // charts and Grad-CAM: loaded only when needed
    await reportAfterFinalize({ s3: deps.s3, logger: deps.logger }, job.out, job.runId);
  }
  return { kind: 'merged', metrics };
}

/**
 * Merges the parts batch by batch in batch order, streaming predictions.jsonl, predictions.csv and
 * failures.jsonl as multipart uploads and counting the metrics in the same pass. Each key of the
 * manifest comes out exactly once (see mergeParts); memory holds a shard, a few batches and the scores.
 */
export async function mergeRun(s3: S3Client, record: RunRecord, missing?: MissingReason): Promise<RunTally> {
  const { manifest } = record;
  const layout = runLayout(manifest.out, manifest.runId);
  const jsonl = openUploadStream(s3, layout.bucket, layout.predictionsJsonl, 'application/x-ndjson');
  const csv = openUploadStream(s3, layout.bucket, layout.predictionsCsv, 'text/csv');
  const failures = openUploadStream(s3, layout.bucket, layout.failures, 'application/x-ndjson');
  const tally = new RunTally();
  await csv.write(CSV_HEADER);
  for await (const b of walkBatches(s3, record, { withMeta: true })) {
    const merged = mergeParts(b.items, b.parts.map((p) => p.lines), missing);
    for (const p of merged.predictions) tally.prediction(p);
    for (const f of merged.failures) tally.failure(f);
    for (const p of b.parts) if (p.meta) tally.meta(p.meta);
    // A line merged as it was written goes out as the part's text, not encoded again.
    const text = (rows: readonly PartLine[]) => rows.map((r) => (b.parts.length === 1 ? b.parts[0].raw.get(r) : undefined) ?? JSON.stringify(r)).join('\n') + '\n';
    await Promise.all([
      merged.predictions.length ? jsonl.write(text(merged.predictions)) : undefined,
      merged.predictions.length ? csv.write(merged.predictions.map(csvRow).join('')) : undefined,
      merged.failures.length ? failures.write(text(merged.failures)) : undefined,
    ]);
  }
  await Promise.all([jsonl.end(), csv.end(), failures.end()]);
  return tally;
}

const CSV_COLUMNS = ['key', 'etag', 'label', 'probability', 'threshold', 'model_id', 'model_version', 'true_label'];
const CSV_HEADER = CSV_COLUMNS.join(',') + '\n';

/** One predictions.csv row (RFC 4180: a field with a comma, quote or line break is quoted). Pure. */
export function csvRow(p: PredictionLine): string {
  return [p.key, p.etag, p.label, p.probability, p.threshold, p.modelId, p.modelVersion, p.trueLabel ?? ''].map(csvField).join(',') + '\n';
}

function csvField(v: string | number): string {
  const s = String(v);
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

/** predictions.csv for these rows, header first. Pure. */
export function predictionsCsv(rows: readonly PredictionLine[]): string {
  return CSV_HEADER + rows.map(csvRow).join('');
}

export async function readRunMetrics(s3: S3Client, job: Pick<FinalizeJobData, 'out' | 'runId'>): Promise<RunMetrics | undefined> {
  const layout = runLayout(job.out, job.runId);
  const text = await getTextIfExists(s3, layout.bucket, layout.metrics);
  return text ? (JSON.parse(text) as RunMetrics) : undefined;
}
