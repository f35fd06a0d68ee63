import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { S3Client } from '@aws-sdk/client-s3';
import { getObjectBytes, listObjects } from './objects.js';

/** Copies every object under an S3 prefix into a local folder (keys relative to the prefix); returns the keys. */
export async function downloadPrefix(s3: S3Client, bucket: string, prefix: string, dir: string): Promise<string[]> {
  const objects = await listObjects(s3, bucket, prefix.endsWith('/') ? prefix : `${prefix}/`);
  for (const o of objects) {
    const file = path.join(dir, o.key.slice(prefix.length).replace(/^\/+/, ''));
    await mkdir(path.dirname(file), { recursive: true });
    await writeFile(file, (await getObjectBytes(s3, bucket, o.key)).bytes);
  }
  return objects.map((o) => o.key);
}
