import type { S3Client } from '@aws-sdk/client-s3';
import type { Queue } from 'bullmq';
import type { Logger } from '../shared/logger.js';
import { createRun, type RunStore, isEnded, allScores } from '../run/index.js';
import type { Claims } from '../shared/s3/put-if-absent.js';
import { putJson } from '../shared/s3/objects.js';
import { parseS3Uri } from '../shared/s3/uri.js';
import { buildEvalReport } from './eval-report.js';
import type { CamModel } from '../report/gradcam.js';
import { readReportRun } from '../report/read-report-run.js';
import { s3Sink } from '../report/sink.js';
import { writeReport } from '../report/write-report.js';
import { decideAlerts, type Reference } from './alert.js';
import { loadBaseline } from './baseline.js';
import { summarizeScores } from './drift.js';
import { evalRunId } from './firing.js';
import { evalLayout, previousEntry, readHistory, upsertEntry, writeHistory } from './history.js';
import type { EvalJobData, HistoryEntry } from './types.js';
import { postJson, resolveWebhook } from './webhook.js';

export interface EvalDeps {
  s3: S3Client;
  /** The score queue. */
  queue: Queue;
  store: RunStore;
  claims: Claims;
  logger: Logger;
  camModel?: (modelId: string) => Promise<CamModel | undefined>;
  fetch?: typeof fetch;
  pollMs?: number;
  timeoutMs?: number;
  now?: () => Date;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Waits for the run to end by polling the run store; a failed run fails the evaluation. */
export async function waitDone(deps: Pick<EvalDeps, 'store' | 'pollMs' | 'timeoutMs'>, runId: string): Promise<void> {
  const deadline = Date.now() + (deps.timeoutMs ?? 12 * 3600_000);
  for (;;) {
    const state = await deps.store.get(runId);
    if (state?.status === 'failed')
      throw new Error(`evaluation run ${runId} failed: ${state.reason ?? 'no reason recorded'}`);
    if (state && isEnded(state.status)) return;
    if (Date.now() > deadline)
      throw new Error(
        `evaluation run ${runId} not done in time (${state?.doneBatches}/${state?.totalBatches} batches)`,
      );
    await sleep(deps.pollMs ?? 2000);
  }
}

/**
 * One evaluation: scores the labelled prefix with the production model (run id from name + date, so
 * a retry reuses the run), then writes EVALS/DATE/{metrics.json, report/}, appends history.jsonl,
 * and alerts on drops or shifts against the previous night and the baseline.
 */
export async function runEvaluation(deps: EvalDeps, data: EvalJobData, date: string): Promise<HistoryEntry> {
  const now = deps.now ?? (() => new Date());
  const out = parseS3Uri(data.out);
  const layout = evalLayout(out, date);
  const runId = evalRunId(data.name, date);
  const log = deps.logger.child({ evaluation: data.name, date, runId });
  await createRun(deps, { runId, source: parseS3Uri(data.data), out: layout.runsOut, batchSize: data.batchSize });
  await waitDone(deps, runId);

  const run = await readReportRun(deps.s3, layout.runsOut, runId);
  const metrics = run.metrics.classification;
  if (!metrics) throw new Error(`evaluation ${data.name}: no labelled images under ${data.data}`);
  const threshold = run.metrics.model?.threshold ?? 0.5;
  const scores = summarizeScores(allScores(run.scores), threshold);
  const history = await readHistory(deps.s3, out);
  const previous = previousEntry(history, data.name, date);
  const baseline: Reference | undefined = data.baseline ? await loadBaseline(deps.s3, data.baseline) : undefined;
  const alerts = decideAlerts({ metrics, scores }, previous, baseline, data);
  const entry: HistoryEntry = {
    date,
    name: data.name,
    runId,
    evaluatedAt: now().toISOString(),
    model: run.metrics.model,
    metrics,
    scores,
    alerts,
  };
  const updated = upsertEntry(history, entry);

  await putJson(deps.s3, layout.bucket, layout.metrics, {
    ...entry,
    previous: previous?.date ?? null,
    baseline: data.baseline ?? null,
    run: run.metrics,
  });
  try {
    const doc = await buildEvalReport(
      { s3: deps.s3, logger: log, camModel: deps.camModel },
      run,
      entry,
      updated,
      now(),
    );
    await writeReport(doc, s3Sink(deps.s3, layout.bucket, layout.report));
  } catch (err) {
    log.error({ err: (err as Error).message }, 'evaluation report failed');
  }
  await writeHistory(deps.s3, out, updated);

  if (alerts.length) {
    log.error(
      { alerts: alerts.map((a) => a.message) },
      'evaluation alert: model quality or score distribution changed',
    );
    if (data.webhook) {
      const payload = {
        type: 'cxr.evaluation.alert',
        name: data.name,
        date,
        runId,
        model: entry.model,
        metrics,
        alerts,
        previous: previous?.date ?? null,
      };
      const webhook = data.webhook;
      const post = async () => postJson(resolveWebhook(webhook), payload, deps.fetch);
      await post().catch((err: unknown) =>
        log.error({ err: (err as Error).message }, 'evaluation alert webhook failed'),
      );
    }
  } else {
    log.info(
      { recall: metrics.recall, specificity: metrics.specificity, rocAuc: metrics.rocAuc },
      'evaluation done, no alert',
    );
  }
  return entry;
}
