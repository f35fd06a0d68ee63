import type { S3Client } from '@aws-sdk/client-s3';
import { listObjects, type ListedObject } from '../shared/s3/objects.js';
import { formatS3Uri, type S3Location } from '../shared/s3/uri.js';

export const IMAGE_EXTENSIONS = ['.jpg', '.jpeg', '.png', '.webp', '.tif', '.tiff'] as const;

export function isImageKey(key: string): boolean {
  const k = key.toLowerCase();
  return !k.endsWith('/') && IMAGE_EXTENSIONS.some((ext) => k.endsWith(ext));
}

async function listCounted(s3: S3Client, source: S3Location, onPage?: (n: number) => void): Promise<{ images: ListedObject[]; seen: number }> {
  let seen = 0;
  const objects = await listObjects(s3, source.bucket, source.prefix, (key) => {
    seen++;
    return isImageKey(key);
  }, onPage);
  return { images: objects.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0)), seen };
}

/** Every image object under the prefix, sorted by key so batches are reproducible. */
export async function listImages(s3: S3Client, source: S3Location, onPage?: (n: number) => void): Promise<ListedObject[]> {
  return (await listCounted(s3, source, onPage)).images;
}

/** listImages, but a prefix without images is an error that says how many objects it holds. */
export async function listImagesOrFail(s3: S3Client, source: S3Location): Promise<ListedObject[]> {
  const { images, seen } = await listCounted(s3, source);
  if (images.length === 0) {
    throw new Error(`no images under ${formatS3Uri(source)}: ${seen} objects seen, none with a supported extension (${IMAGE_EXTENSIONS.join(' ')})`);
  }
  return images;
}
