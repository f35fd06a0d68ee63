import type { S3Client } from '@aws-sdk/client-s3';
import { streamPredictions, type FailureLine } from '../../src/run/index.js';
import { getTextIfExists } from '../../src/shared/s3/objects.js';
import { joinKey, type S3Location } from '../../src/shared/s3/uri.js';

/** A finalized run's outputs: the keys of predictions.jsonl and the lines of failures.jsonl. */
export async function runOutputs(
  s3: S3Client,
  out: S3Location,
  runId: string,
): Promise<{ predicted: string[]; failed: FailureLine[] }> {
  const predicted: string[] = [];
  for await (const p of streamPredictions(s3, out, runId)) predicted.push(p.key);
  const text = (await getTextIfExists(s3, out.bucket, joinKey(out.prefix, runId, 'failures.jsonl'))) ?? '';
  const failed = text
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as FailureLine);
  return { predicted, failed };
}
