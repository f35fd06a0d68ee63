import { batchName } from './batching.js';
import { joinKey, type S3Location } from '../s3/uri.js';

/** Where a run's objects live under its output prefix. Pure. */
export function runLayout(out: S3Location, runId: string) {
  const root = joinKey(out.prefix, runId);
  return {
    bucket: out.bucket,
    root,
    manifest: joinKey(root, 'manifest.json'),
    partsPrefix: joinKey(root, 'parts') + '/',
    part: (batch: number) => joinKey(root, 'parts', `${batchName(batch)}.jsonl`),
    partMeta: (batch: number) => joinKey(root, 'parts', `${batchName(batch)}.meta.json`),
    predictionsJsonl: joinKey(root, 'predictions.jsonl'),
    predictionsCsv: joinKey(root, 'predictions.csv'),
    failures: joinKey(root, 'failures.jsonl'),
    metrics: joinKey(root, 'metrics.json'),
  };
}

export type RunLayout = ReturnType<typeof runLayout>;

/** Batch index of a part object key, or undefined for other objects. */
export function batchOfPartKey(key: string): number | undefined {
  const m = /\/parts\/(\d+)\.jsonl$/.exec(key);
  return m ? Number(m[1]) : undefined;
}
