import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import type { S3Client } from '@aws-sdk/client-s3';
import pLimit from 'p-limit';
import { contentTypeOf, isScorableFile } from '../shared/image/local-files.js';
import { CLASS_NAMES, type ClassName } from '../shared/labels.js';
import { putObject } from '../shared/s3/objects.js';
import { joinKey, type S3Location } from '../shared/s3/uri.js';
import { stratifiedSample } from '../shared/sampling.js';

export interface LocalImage {
  file: string;
  label: ClassName;
}

/** Images of a folder with one subfolder per class (NORMAL/, PNEUMONIA/): every file the worker scores (DICOM included). */
export async function listClassFolders(dir: string): Promise<Map<ClassName, LocalImage[]>> {
  const groups = new Map<ClassName, LocalImage[]>();
  for (const label of CLASS_NAMES) {
    const folder = path.join(dir, label);
    const names = await readdir(folder).catch((err: NodeJS.ErrnoException) => {
      throw new Error(
        `${folder}: ${err.code === 'ENOENT' ? 'missing (expected one subfolder per class: NORMAL/, PNEUMONIA/)' : err.message}`,
      );
    });
    const files = names.sort().map((n) => path.join(folder, n));
    // Only names without an image extension are opened (to look for DICOM); a few at a time.
    const sniff = pLimit(16);
    const scorable = await Promise.all(files.map((f) => sniff(() => isScorableFile(f).catch(() => false))));
    groups.set(
      label,
      files.filter((_, i) => scorable[i]).map((file) => ({ file, label })),
    );
  }
  return groups;
}

/** Uploads a stratified sample, keeping the class folder in each key so runs have labels. Returns the keys. */
export async function uploadStratifiedSample(
  s3: S3Client,
  dir: string,
  dest: S3Location,
  limit: number,
  seed = 42,
): Promise<{ key: string; label: ClassName }[]> {
  return uploadImages(s3, [...stratifiedSample(await listClassFolders(dir), limit, seed).values()].flat(), dest);
}

/** Uploads images under dest/CLASS/basename (the class folder gives the run its labels). Returns the keys. */
export async function uploadImages(
  s3: S3Client,
  items: readonly LocalImage[],
  dest: S3Location,
): Promise<{ key: string; label: ClassName }[]> {
  const upload = pLimit(8);
  return Promise.all(
    items.map((img) =>
      upload(async () => {
        const key = joinKey(dest.prefix, img.label, path.basename(img.file));
        await putObject(s3, dest.bucket, key, await readFile(img.file), contentTypeOf(img.file));
        return { key, label: img.label };
      }),
    ),
  );
}
