import { open } from 'node:fs/promises';
import path from 'node:path';
import { hasCandidateExtension, skipReason } from '../s3/list-images.js';
import { isDicom } from './dicom/sniff.js';

/**
 * Whether a local file is one the worker scores, by the rules the producer lists S3 keys with (skipReason):
 * an image or DICOM extension; or a name without one (or a numeric one, as UID-named PACS exports have),
 * which is taken when its content is DICOM ('DICM' at offset 128), so a README or a stray file is not.
 */
export async function isScorableFile(file: string): Promise<boolean> {
  const name = path.basename(file);
  if (skipReason(name) !== undefined) return false;
  if (hasCandidateExtension(name)) return true;
  const fh = await open(file, 'r');
  try {
    const head = new Uint8Array(132);
    const { bytesRead } = await fh.read(head, 0, head.length, 0);
    return isDicom(head.subarray(0, bytesRead));
  } finally {
    await fh.close();
  }
}

const CONTENT_TYPES: Readonly<Record<string, string>> = {
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.png': 'image/png',
  '.webp': 'image/webp',
  '.tif': 'image/tiff',
  '.tiff': 'image/tiff',
};

/** The Content-Type an uploaded scorable file gets: its image type, else DICOM (Part 10). Pure. */
export function contentTypeOf(file: string): string {
  return CONTENT_TYPES[path.extname(file).toLowerCase()] ?? 'application/dicom';
}
