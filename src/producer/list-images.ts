import type { S3Client } from '@aws-sdk/client-s3';
import { listObjects, type ListedObject } from '../shared/s3/objects.js';
import type { S3Location } from '../shared/s3/uri.js';

export const IMAGE_EXTENSIONS = ['.jpg', '.jpeg', '.png', '.webp', '.tif', '.tiff'] as const;

export function isImageKey(key: string): boolean {
  const k = key.toLowerCase();
  return !k.endsWith('/') && IMAGE_EXTENSIONS.some((ext) => k.endsWith(ext));
}

/** Every image object under the prefix, sorted by key so batches are reproducible. */
export async function listImages(s3: S3Client, source: S3Location, onPage?: (n: number) => void): Promise<ListedObject[]> {
  const objects = await listObjects(s3, source.bucket, source.prefix, isImageKey, onPage);
  return objects.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
}
