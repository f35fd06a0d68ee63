import type { S3Client } from '@aws-sdk/client-s3';
import { getJsonIfExists, listObjects, putJson, putObject } from '../shared/s3/objects.js';
import type { S3Location } from '../shared/s3/uri.js';
import { epochOfMetricsKey, trainLayout } from './layout.js';
import type { HistoryEntry, RunStatusDoc, TrainRunSpec } from './types.js';

export const putBytes = (s3: S3Client, bucket: string, key: string, bytes: Uint8Array) =>
  putObject(s3, bucket, key, bytes, 'application/octet-stream');
export { putJson };

export async function readSpec(s3: S3Client, out: S3Location, runId: string): Promise<TrainRunSpec> {
  const l = trainLayout(out, runId);
  const spec = await getJsonIfExists<TrainRunSpec>(s3, l.bucket, l.spec);
  if (!spec) throw new Error(`training run ${runId}: s3://${l.bucket}/${l.spec} does not exist`);
  return spec;
}

export async function readHistory(s3: S3Client, out: S3Location, runId: string): Promise<HistoryEntry[]> {
  const l = trainLayout(out, runId);
  return (await getJsonIfExists<HistoryEntry[]>(s3, l.bucket, l.history)) ?? [];
}

export async function readStatus(s3: S3Client, out: S3Location, runId: string): Promise<RunStatusDoc | undefined> {
  const l = trainLayout(out, runId);
  return getJsonIfExists<RunStatusDoc>(s3, l.bucket, l.status);
}

/** Rounds whose merge committed (epoch-E/metrics.json exists), ascending. */
export async function finishedEpochs(s3: S3Client, out: S3Location, runId: string): Promise<number[]> {
  const l = trainLayout(out, runId);
  const objs = await listObjects(s3, l.bucket, l.epochsPrefix, (k) => epochOfMetricsKey(k) !== undefined);
  return objs.map((o) => epochOfMetricsKey(o.key)!).sort((a, b) => a - b);
}
