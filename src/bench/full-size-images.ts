import { readFileSync } from 'node:fs';
import path from 'node:path';
import { CopyObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import pLimit from 'p-limit';
import sharp from 'sharp';
import { listClassFolders } from '../demo/upload-sample.js';
import { repoRoot } from '../shared/paths.js';
import { putObject } from '../shared/s3/objects.js';

/**
 * Uploads `count` X-rays of the shared training split (CXR_DATASET, else ../shared/...) as full-size inputs (the shared set is 224x224,
 * originals are 1-3 megapixels): 1600x1300 greyscale JPEGs at quality 92, under `keyOf(i, label)`.
 */
export async function uploadFullSizeImages(
  s3: S3Client,
  bucket: string,
  count: number,
  keyOf: (i: number, label: string) => string,
): Promise<number> {
  const dataset =
    process.env.CXR_DATASET ?? path.resolve(repoRoot(), '..', 'shared', 'datasets', 'chest-xray-pneumonia', 'train');
  const groups = await listClassFolders(dataset);
  const files = [...groups.values()]
    .flat()
    .filter((_, i) => i % 7 === 0)
    .slice(0, count);
  const up = pLimit(8);
  await Promise.all(
    files.map((f, i) =>
      up(async () => {
        const big = await sharp(readFileSync(f.file))
          .resize(1600, 1300, { fit: 'fill' })
          .greyscale()
          .jpeg({ quality: 92 })
          .toBuffer();
        await putObject(s3, bucket, keyOf(i, f.label), big, 'image/jpeg');
      }),
    ),
  );
  return files.length;
}

/** Server-side copies within `bucket`, 16 at a time: a measured set repeated under new keys without uploading it again. */
export async function copyObjects(
  s3: S3Client,
  bucket: string,
  pairs: readonly { from: string; to: string }[],
): Promise<void> {
  const limit = pLimit(16);
  await Promise.all(
    pairs.map(({ from, to }) =>
      limit(() =>
        s3.send(new CopyObjectCommand({ Bucket: bucket, Key: to, CopySource: encodeURI(`${bucket}/${from}`) })),
      ),
    ),
  );
}
