import type { S3Client } from '@aws-sdk/client-s3';
import { getTextIfExists } from '../../src/shared/s3/objects.js';
import { runLayout } from '../../src/run/layout.js';
import type { RunState } from '../../src/run/run-store.js';
import type { FailureLine, PredictionLine, RunItem, RunManifest, SkippedObject } from '../../src/run/types.js';
import { readAllItems, readSkipped } from '../../src/run/run-record.js';
import type { RunMetrics } from '../../src/run/run-metrics.js';

/** What a finished run's outputs say, against its manifest. */
export interface RunCheck {
  runId: string;
  manifest: RunManifest;
  /** The manifest shards' keys and skipped objects. */
  items: RunItem[];
  skipped: SkippedObject[];
  metrics: RunMetrics;
  predictions: PredictionLine[];
  failures: FailureLine[];
  /** Manifest keys in neither predictions nor failures. */
  lost: string[];
  /** Keys written more than once across predictions and failures, or not in the manifest at all. */
  duplicated: string[];
  /** Failures of keys the case did not expect to fail. */
  falseFailures: FailureLine[];
}

const jsonl = <T>(text: string | undefined) =>
  (text ?? '')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as T);

export async function inspectRun(
  s3: S3Client,
  bucket: string,
  outPrefix: string,
  runId: string,
  expectedFailures: (f: FailureLine) => boolean = () => false,
): Promise<RunCheck> {
  const layout = runLayout({ bucket, prefix: outPrefix }, runId);
  const read = (key: string) => getTextIfExists(s3, bucket, key);
  const manifest = JSON.parse((await read(layout.manifest))!) as RunManifest;
  const metrics = JSON.parse((await read(layout.metrics)) ?? 'null') as RunMetrics;
  const predictions = jsonl<PredictionLine>(await read(layout.predictionsJsonl));
  const failures = jsonl<FailureLine>(await read(layout.failures));
  const [items, skipped] = [await readAllItems(s3, manifest), await readSkipped(s3, manifest)];
  const keys = new Set(items.map((i) => i.key));
  const seen = new Map<string, number>();
  for (const l of [...predictions, ...failures]) seen.set(l.key, (seen.get(l.key) ?? 0) + 1);
  return {
    runId,
    manifest,
    items,
    skipped,
    metrics,
    predictions,
    failures,
    lost: [...keys].filter((k) => !seen.has(k)),
    duplicated: [...seen].filter(([k, n]) => n > 1 || !keys.has(k)).map(([k]) => k),
    falseFailures: failures.filter((f) => !expectedFailures(f)),
  };
}

export interface SummaryRow {
  name: string;
  lost: number;
  duplicated: number;
  falseFailures: number;
  recoverySeconds: number;
  note: string;
}

export const summary: SummaryRow[] = [];

/** Adds the case's line to the summary; recovery is the wall time from the end of the fault to the run's final state. */
export function record(
  name: string,
  check: Pick<RunCheck, 'lost' | 'duplicated' | 'falseFailures'> | undefined,
  recoveryMs: number,
  note = '',
): void {
  summary.push({
    name,
    lost: check?.lost.length ?? 0,
    duplicated: check?.duplicated.length ?? 0,
    falseFailures: check?.falseFailures.length ?? 0,
    recoverySeconds: Math.round(recoveryMs / 100) / 10,
    note,
  });
}

export function summaryLines(): string[] {
  const width = Math.max(...summary.map((r) => r.name.length));
  return summary.map(
    (r) =>
      `fault summary | ${r.name.padEnd(width)} | lost ${r.lost} | duplicated ${r.duplicated} | false failures ${r.falseFailures} | recovery ${r.recoverySeconds.toFixed(1)} s${r.note ? ` | ${r.note}` : ''}`,
  );
}

/** Redis's view must agree with the outputs: never more done batches than planned, never more keys than the manifest. */
export function countsConsistent(state: RunState | undefined, check: RunCheck): string[] {
  const problems: string[] = [];
  if (!state) return ['the run is not in Redis'];
  if (state.doneBatches > state.totalBatches) problems.push(`batches ${state.doneBatches}/${state.totalBatches}`);
  if (state.scored + state.failed > state.totalKeys)
    problems.push(`scored ${state.scored} + failed ${state.failed} > total ${state.totalKeys}`);
  if (state.scored !== check.predictions.length || state.failed !== check.failures.length)
    problems.push(
      `Redis ${state.scored}/${state.failed} vs outputs ${check.predictions.length}/${check.failures.length}`,
    );
  if (state.totalKeys !== check.items.length)
    problems.push(`totalKeys ${state.totalKeys} vs manifest ${check.items.length}`);
  return problems;
}
