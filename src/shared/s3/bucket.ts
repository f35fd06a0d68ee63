import { CreateBucketCommand, HeadBucketCommand, type S3Client } from '@aws-sdk/client-s3';
import { formatS3Uri, type S3Location } from './uri.js';

export async function ensureBucket(s3: S3Client, bucket: string): Promise<void> {
  try {
    await s3.send(new HeadBucketCommand({ Bucket: bucket }));
  } catch {
    await s3.send(new CreateBucketCommand({ Bucket: bucket }));
  }
}

/**
 * Throws a one-line error naming `what` (e.g. 'source', '--out') when the location's bucket is missing or
 * not readable; other errors (no credentials, endpoint down) pass through as they are.
 */
export async function assertBucket(s3: S3Client, loc: S3Location, what: string): Promise<void> {
  try {
    await s3.send(new HeadBucketCommand({ Bucket: loc.bucket }));
  } catch (err) {
    const status = (err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
    const problem =
      status === 404
        ? 'does not exist'
        : status === 403
          ? 'is not accessible with these credentials (403)'
          : status === 301
            ? 'is in another region (301)'
            : undefined;
    if (!problem) throw err;
    throw new Error(`${what} ${formatS3Uri(loc)}: bucket "${loc.bucket}" ${problem}`, { cause: err });
  }
}
