import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { S3Client } from '@aws-sdk/client-s3';
import pLimit from 'p-limit';
import { putObject } from '../shared/s3/objects.js';

// An empty object as s3rver 3.7's FilesystemStore keeps it: `<key>._S3rver_object` (the bytes) beside
// its `.md5` and `_S3rver_metadata.json`, the key's folders as directories under `<dataDir>/<bucket>`.
const EMPTY_MD5 = 'd41d8cd98f00b204e9800998ecf8427e';
const files = (contentType: string): Record<string, string> => ({
  '._S3rver_object': '',
  '._S3rver_object.md5': EMPTY_MD5,
  '._S3rver_metadata.json': JSON.stringify({ 'content-type': contentType }, null, 2),
});

/**
 * Writes empty objects straight into a running s3rver's data directory, far faster than a PutObject each
 * (s3rver reads its directory on every request). First checks, with one PutObject, that the server lays
 * an object out the same way, so a different s3rver version fails here rather than listing wrongly.
 */
export async function fillS3rverBucket(
  s3: S3Client,
  dataDir: string,
  bucket: string,
  keys: readonly string[],
  contentType: string,
): Promise<void> {
  const probe = `probe-${Date.now()}/object.bin`;
  await putObject(s3, bucket, probe, new Uint8Array(0), contentType);
  const dir = path.join(dataDir, bucket, path.dirname(probe));
  const name = path.basename(probe);
  const theirs = Object.fromEntries(
    await Promise.all(
      (await readdir(dir)).map(async (f) => [f.slice(name.length), await readFile(path.join(dir, f), 'utf8')]),
    ),
  );
  const mine = files(contentType);
  if (JSON.stringify(theirs, Object.keys(theirs).sort()) !== JSON.stringify(mine, Object.keys(mine).sort())) {
    throw new Error(
      `s3rver stores an object as ${JSON.stringify(theirs)}, not as this bench writes it (${JSON.stringify(mine)})`,
    );
  }
  const dirs = new Set(keys.map((k) => path.join(dataDir, bucket, path.dirname(k))));
  await Promise.all([...dirs].map((d) => mkdir(d, { recursive: true })));
  const limit = pLimit(64);
  await Promise.all(
    keys.flatMap((k) =>
      Object.entries(mine).map(([suffix, body]) =>
        limit(() => writeFile(path.join(dataDir, bucket, k + suffix), body)),
      ),
    ),
  );
}
