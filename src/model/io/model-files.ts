import type { S3Client } from '@aws-sdk/client-s3';
import { mkdir, readdir, readFile, rename, stat, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { getObjectBytes, listObjects, putObject } from '../../shared/s3/objects.js';
import { parseS3Folder } from '../../shared/s3/uri.js';

/** A model folder's files by relative path, local or s3:// (every file, whatever the model format). */
export interface ModelFolder {
  uri: string;
  list(): Promise<string[]>;
  read(rel: string): Promise<Uint8Array>;
  write(rel: string, bytes: Uint8Array): Promise<void>;
}

/** pointer.json makes a folder a name for another model (model-pointer.ts); it is never part of a model. */
export const NOT_MODEL_FILES = new Set(['pointer.json']);

function localFolder(dir: string): ModelFolder {
  return {
    uri: dir,
    async list() {
      const names = (await readdir(dir, { recursive: true })).filter((f) => !/\.tmp/.test(f)).sort();
      const isFile = await Promise.all(names.map((f) => stat(join(dir, f)).then((st) => st.isFile())));
      return names.filter((_, i) => isFile[i]);
    },
    read: async (rel) => new Uint8Array(await readFile(join(dir, rel))),
    async write(rel, bytes) {
      const p = join(dir, rel);
      await mkdir(dirname(p), { recursive: true });
      const tmp = `${p}.tmp-${process.pid}`;
      await writeFile(tmp, bytes);
      await rename(tmp, p);
    },
  };
}

function s3Folder(s3: S3Client, uri: string): ModelFolder {
  const { bucket, prefix } = parseS3Folder(uri);
  return {
    uri,
    list: async () => (await listObjects(s3, bucket, prefix)).map((o) => o.key.slice(prefix.length)).sort(),
    read: async (rel) => (await getObjectBytes(s3, bucket, prefix + rel)).bytes,
    write: (rel, bytes) =>
      putObject(
        s3,
        bucket,
        prefix + rel,
        bytes,
        rel.endsWith('.json') ? 'application/json' : rel.endsWith('.md') ? 'text/markdown' : 'application/octet-stream',
      ),
  };
}

export function modelFolder(uri: string, s3?: S3Client): ModelFolder {
  if (!uri.startsWith('s3://')) return localFolder(uri);
  if (!s3) throw new Error(`model folder ${uri} needs an S3 client`);
  return s3Folder(s3, uri);
}

/**
 * Copies every file of `from` into `to`, replacing the files named in `replace` (written last, in the
 * given order, so a reader never sees the new metadata beside missing weights). Returns the files written.
 */
export async function copyModelFolder(
  from: ModelFolder,
  to: ModelFolder,
  replace: ReadonlyMap<string, Uint8Array>,
  transform: (rel: string, bytes: Uint8Array) => Uint8Array = (_r, b) => b,
): Promise<string[]> {
  const files = (await from.list()).filter((f) => !NOT_MODEL_FILES.has(f) && !replace.has(f));
  for (const f of files) await to.write(f, transform(f, await from.read(f)));
  for (const [f, bytes] of replace) await to.write(f, bytes);
  return [...files, ...replace.keys()];
}
