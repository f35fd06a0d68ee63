import type { S3Client } from '@aws-sdk/client-s3';
import { getCompleteIfExists, getObjectBytes, isNotFound, putJson, putObjectEtag } from '../shared/s3/objects.js';
import {
  CHECKPOINT_OBJECTS,
  matchingCheckpoint,
  type CheckpointObject,
  type ReadCounter,
  type ShardCheckpoint,
} from './checkpoint.js';
import { runLayout } from './layout.js';
import type { RunRecord } from './plan.js';
import type { TallyState } from './tally.js';

const CONTENT_TYPE: Record<CheckpointObject, string> = {
  predictions: 'application/x-ndjson',
  csv: 'text/csv',
  failures: 'application/x-ndjson',
  scores: 'application/octet-stream',
};

/** Manifest shard `shard`'s merge checkpoint, when there is one made from exactly the part objects the record lists. */
export async function readCheckpoint(
  s3: S3Client,
  record: RunRecord,
  shard: number,
  reads?: ReadCounter,
): Promise<ShardCheckpoint | undefined> {
  const layout = runLayout(record.manifest.out, record.manifest.runId);
  const got = await getCompleteIfExists(s3, layout.bucket, layout.merged(shard).index, 5_000);
  if (!got) return undefined;
  reads?.count('checkpoints', got.bytes.byteLength);
  return matchingCheckpoint(
    JSON.parse(Buffer.from(got.bytes).toString('utf8')) as ShardCheckpoint,
    record.fingerprints.get(shard),
  );
}

/** One object of a checkpoint, read once; undefined when it is gone or is not the one the checkpoint wrote (its ETag differs). */
export async function readCheckpointObject(
  s3: S3Client,
  record: RunRecord,
  cp: ShardCheckpoint,
  name: CheckpointObject,
  reads?: ReadCounter,
): Promise<Uint8Array | undefined> {
  const layout = runLayout(record.manifest.out, record.manifest.runId);
  try {
    const got = await getObjectBytes(s3, layout.bucket, layout.merged(cp.shard)[name]);
    reads?.count('checkpoints', got.bytes.byteLength);
    return got.etag === cp.etags[name] ? got.bytes : undefined;
  } catch (err) {
    if (isNotFound(err)) return undefined;
    throw err;
  }
}

/** Writes a shard's checkpoint: its objects first, then the index naming their ETags, so a crash leaves none or a whole one. */
export async function writeCheckpoint(
  s3: S3Client,
  record: RunRecord,
  shard: number,
  objects: Record<CheckpointObject, string | Uint8Array>,
  tally: TallyState,
): Promise<void> {
  const layout = runLayout(record.manifest.out, record.manifest.runId);
  const keys = layout.merged(shard);
  const etags = await Promise.all(
    CHECKPOINT_OBJECTS.map((n) => putObjectEtag(s3, layout.bucket, keys[n], objects[n], CONTENT_TYPE[n])),
  );
  const cp: ShardCheckpoint = {
    shard,
    fingerprint: record.fingerprints.get(shard),
    tally,
    etags: Object.fromEntries(CHECKPOINT_OBJECTS.map((n, i) => [n, etags[i]])) as ShardCheckpoint['etags'],
  };
  await putJson(s3, layout.bucket, keys.index, cp);
}
