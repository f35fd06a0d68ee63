import type { S3Client } from '@aws-sdk/client-s3';
import { getObjectBytes } from '../shared/s3/objects.js';

/** An object that cannot be read for reasons of its own (missing, forbidden); other errors fail the batch. */
export class ObjectReadError extends Error {
  constructor(
    readonly reason: string,
    options?: ErrorOptions,
  ) {
    super(reason, options);
    this.name = 'ObjectReadError';
  }
}

const PER_OBJECT = new Set(['NoSuchKey', 'NotFound', 'AccessDenied', 'InvalidObjectState']);

export async function downloadObject(
  s3: S3Client,
  bucket: string,
  key: string,
): Promise<{ bytes: Uint8Array; etag: string }> {
  try {
    return await getObjectBytes(s3, bucket, key);
  } catch (err) {
    const e = err as { name?: string; message?: string; $metadata?: { httpStatusCode?: number } };
    const status = e.$metadata?.httpStatusCode;
    if (PER_OBJECT.has(e.name ?? '') || status === 403 || status === 404) {
      throw new ObjectReadError(
        `cannot read object: ${e.name ?? 'error'} (HTTP ${status ?? '?'})${e.message ? `: ${e.message}` : ''}`,
      );
    }
    throw err;
  }
}
