import type { S3Client } from '@aws-sdk/client-s3';
import { getTextIfExists } from '../s3/objects.js';
import type { S3Location } from '../s3/uri.js';
import { runLayout } from './layout.js';
import { readManifest } from './run-record.js';
import type { RunMetrics } from './run-metrics.js';
import type { PredictionLine } from './types.js';

/** A finalized run as reports, evaluations and calibration read it: metrics, predictions and the source. */
export interface RunData {
  metrics: RunMetrics;
  predictions: PredictionLine[];
  source: S3Location;
}

export async function readRunData(s3: S3Client, out: S3Location, runId: string): Promise<RunData> {
  const layout = runLayout(out, runId);
  const [metricsText, predText, manifest] = await Promise.all([
    getTextIfExists(s3, layout.bucket, layout.metrics),
    getTextIfExists(s3, layout.bucket, layout.predictionsJsonl),
    readManifest(s3, out, runId),
  ]);
  if (!metricsText) throw new Error(`run ${runId}: no metrics.json (not finalized yet?)`);
  const predictions = (predText ?? '').split('\n').filter(Boolean).map((l) => JSON.parse(l) as PredictionLine);
  return { metrics: JSON.parse(metricsText) as RunMetrics, predictions, source: manifest.source };
}
