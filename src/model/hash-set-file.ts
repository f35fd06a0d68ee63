import { readdir, readFile, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import pLimit from 'p-limit';
import { CANDIDATE_EXTENSIONS } from '../shared/s3/list-images.js';
import { decodeHashSet, encodeHashSet, HASH_SET_FILE, imageKey, type HashSet, type HashSetHeader } from './hash-set.js';

/** The model's training-set hashes (data-hashes.bin in its folder), or undefined when it ships none. */
export async function loadModelHashSet(modelDir: string): Promise<HashSet | undefined> {
  const file = path.join(modelDir, HASH_SET_FILE);
  let bytes: Uint8Array;
  try {
    bytes = new Uint8Array(await readFile(file));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  return decodeHashSet(bytes, file);
}

/** Image files under a folder, recursively (the extensions the producer lists), sorted. */
export async function imageFilesUnder(dir: string): Promise<string[]> {
  const names = await readdir(dir, { recursive: true }).catch((err: NodeJS.ErrnoException) => {
    throw new Error(`--data ${dir}: ${err.code === 'ENOENT' ? 'no such folder' : err.message}`);
  });
  return names
    .filter((n) => CANDIDATE_EXTENSIONS.includes(path.extname(n).toLowerCase()))
    .map((n) => path.join(dir, n))
    .sort();
}

/**
 * Writes the hash set of `files` (every training and validation image of a model) to `out`, e.g.
 * MODEL_DIR/data-hashes.bin, through a temporary file so a reader never sees half of it. Returns its header.
 */
export async function writeHashSetFile(
  files: readonly string[],
  out: string,
  info: Pick<HashSetHeader, 'sets' | 'data'>,
): Promise<HashSetHeader> {
  if (files.length === 0) throw new Error('no image files to hash');
  const limit = pLimit(8);
  const keys = await Promise.all(files.map((f) => limit(async () => imageKey(new Uint8Array(await readFile(f))))));
  const bytes = encodeHashSet(keys, info);
  const tmp = `${out}.tmp-${process.pid}`;
  await writeFile(tmp, bytes);
  await rename(tmp, out);
  return decodeHashSet(bytes, out).header;
}
