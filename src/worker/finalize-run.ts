import type { S3Client } from '@aws-sdk/client-s3';
import pLimit from 'p-limit';
import { stringify } from 'csv-stringify/sync';
import type { Logger } from '../shared/logger.js';
import { getTextIfExists, listObjects, putJson, putObject } from '../shared/s3/objects.js';
import { batchOfPartKey, runLayout } from '../shared/run/layout.js';
import type { RunStore } from '../shared/run/run-store.js';
import type { FinalizeJobData, PartLine, PartMeta, PredictionLine } from '../shared/run/types.js';
import { readManifest } from '../producer/create-run.js';
import { mergeParts, parsePart } from './merge-parts.js';
import { buildRunMetrics, type RunMetrics } from './run-metrics.js';
import { reportAfterFinalize } from '../report/run-report-hook.js';

export interface FinalizeDeps {
  s3: S3Client;
  store: RunStore;
  logger: Logger;
}

/** Merges a run's parts into predictions, failures and metrics objects; safe to run again. */
export async function finalizeRun(deps: FinalizeDeps, job: FinalizeJobData): Promise<RunMetrics | undefined> {
  const layout = runLayout(job.out, job.runId);
  const state = await deps.store.get(job.runId);
  if (state && state.doneBatches < state.totalBatches) {
    deps.logger.warn({ ...state, generation: job.generation }, 'finalize skipped: the run has unfinished batches');
    return undefined;
  }
  await deps.store.setStatus(job.runId, 'finalizing');
  const manifest = await readManifest(deps.s3, job.out, job.runId);
  const partKeys = (await listObjects(deps.s3, layout.bucket, layout.partsPrefix, (k) => batchOfPartKey(k) !== undefined))
    .map((o) => ({ key: o.key, batch: batchOfPartKey(o.key)! }))
    .sort((a, b) => a.batch - b.batch);

  const limit = pLimit(16);
  const loaded = await Promise.all(
    partKeys.map((p) =>
      limit(async () => {
        const [text, meta] = await Promise.all([
          getTextIfExists(deps.s3, layout.bucket, p.key),
          getTextIfExists(deps.s3, layout.bucket, layout.partMeta(p.batch)),
        ]);
        return { lines: text ? parsePart(text, p.key) : ([] as PartLine[]), meta: meta ? (JSON.parse(meta) as PartMeta) : undefined };
      }),
    ),
  );
  const merged = mergeParts(
    manifest.items,
    loaded.map((l) => l.lines),
  );
  const metrics = buildRunMetrics(
    manifest,
    merged,
    loaded.flatMap((l) => (l.meta ? [l.meta] : [])),
    new Date(),
  );

  const jsonl = (rows: unknown[]) => rows.map((r) => JSON.stringify(r)).join('\n') + (rows.length ? '\n' : '');
  await Promise.all([
    putObject(deps.s3, layout.bucket, layout.predictionsJsonl, jsonl(merged.predictions), 'application/x-ndjson'),
    putObject(deps.s3, layout.bucket, layout.predictionsCsv, predictionsCsv(merged.predictions), 'text/csv'),
    putObject(deps.s3, layout.bucket, layout.failures, jsonl(merged.failures), 'application/x-ndjson'),
  ]);
  await putJson(deps.s3, layout.bucket, layout.metrics, metrics);
  await deps.store.setStatus(job.runId, 'done', metrics.finishedAt);
  deps.logger.info({ scored: metrics.counts.scored, failed: metrics.counts.failed }, 'run finalized');
  if (metrics.classification) await reportAfterFinalize({ s3: deps.s3, logger: deps.logger }, job.out, job.runId);
  return metrics;
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
