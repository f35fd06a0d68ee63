import type { S3Client } from '@aws-sdk/client-s3';
import { listObjects, type ListedObject } from './objects.js';
import type { S3Location } from './uri.js';

export const IMAGE_EXTENSIONS = ['.jpg', '.jpeg', '.png', '.webp', '.tif', '.tiff'] as const;
/** DICOM exports: .dcm/.dicom, or no extension at all (PACS exports); the worker recognises DICOM by content. */
export const DICOM_EXTENSIONS = ['.dcm', '.dicom'] as const;
export const CANDIDATE_EXTENSIONS: readonly string[] = [...IMAGE_EXTENSIONS, ...DICOM_EXTENSIONS];

/** True when the key ends in an image or DICOM extension (any case). Pure. */
export function hasCandidateExtension(key: string): boolean {
  const k = key.toLowerCase();
  return CANDIDATE_EXTENSIONS.some((ext) => k.endsWith(ext));
}

export function isImageKey(key: string): boolean {
  return skipReason(key) === undefined && !key.endsWith('/');
}

/** Why an object is not scored, or undefined for an image the pipeline reads. Folder markers (keys ending in '/') are not objects to report. Pure. */
export function skipReason(key: string): string | undefined {
  const k = key.toLowerCase();
  if (k.endsWith('/') || hasCandidateExtension(k)) return undefined;
  // A numeric 'extension' is the tail of a UID-named file (1.2.840....320), as PACS exports name them.
  const ext = /\.[^./]+$/.exec(k)?.[0];
  return ext && !/^\.\d+$/.test(ext) ? `unsupported file type ${ext}` : undefined;
}

/** An object under the source prefix that the pipeline does not score, kept in the manifest with the reason. */
export interface SkippedObject {
  key: string;
  etag: string;
  size: number;
  reason: string;
}

export interface SourceListing {
  images: ListedObject[];
  skipped: SkippedObject[];
}

const byKey = (a: { key: string }, b: { key: string }) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0);

/** Every image object under the prefix, sorted by key so batches are reproducible. */
export async function listImages(
  s3: S3Client,
  source: S3Location,
  onPage?: (n: number) => void,
): Promise<ListedObject[]> {
  return (await listSource(s3, source, onPage)).images;
}

/** The images under the prefix (sorted by key) and the other objects with the reason each is skipped. */
export async function listSource(
  s3: S3Client,
  source: S3Location,
  onPage?: (n: number) => void,
): Promise<SourceListing> {
  const objects = await listObjects(s3, source.bucket, source.prefix, (k) => !k.endsWith('/'), onPage);
  const images: ListedObject[] = [];
  const skipped: SkippedObject[] = [];
  for (const o of objects) {
    const reason = skipReason(o.key);
    if (reason) skipped.push({ ...o, reason });
    else images.push(o);
  }
  return { images: images.sort(byKey), skipped: skipped.sort(byKey) };
}
