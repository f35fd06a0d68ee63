import type { S3Client } from '@aws-sdk/client-s3';
import { getTextIfExists, putJson } from './s3/objects.js';
import { joinKey, parseS3Uri } from './s3/uri.js';

/** s3://BUCKET/PREFIX/pointer.json: which model folder a name (e.g. models/production) stands for. */
export interface ModelPointer {
  modelUri: string;
  modelId: string;
  name: string;
  version: string;
  promotedAt: string;
  from?: string;
}

export const POINTER_FILE = 'pointer.json';

const pointerKey = (uri: string) => {
  const l = parseS3Uri(uri);
  return { bucket: l.bucket, key: joinKey(l.prefix, POINTER_FILE) };
};

/** Reads the model's metadata at `modelUri` (must be a complete model folder) and writes the pointer at `to`. */
export async function promoteModel(
  s3: S3Client,
  modelUri: string,
  to: string,
  now = new Date(),
): Promise<ModelPointer> {
  // A pointer names the concrete folder, never another pointer, so resolution is one read.
  const target = ((await resolveModelUri(s3, modelUri)) ?? modelUri).replace(/\/+$/, '');
  const src = parseS3Uri(target);
  const metaText = await getTextIfExists(s3, src.bucket, joinKey(src.prefix, 'metadata.json'));
  if (!metaText) throw new Error(`${target} has no metadata.json; not a model folder`);
  if (!(await getTextIfExists(s3, src.bucket, joinKey(src.prefix, 'model.json'))))
    throw new Error(`${target} has no model.json`);
  const meta = JSON.parse(metaText) as { id?: string; name?: string; version?: string; training?: { epoch?: number } };
  if (typeof meta.id !== 'string') throw new Error(`${target}/metadata.json has no id`);
  const pinned = await pinnedEpochFolder(s3, target, meta.id, meta.training?.epoch);
  const pointer: ModelPointer = {
    modelUri: pinned,
    modelId: meta.id,
    name: meta.name ?? '',
    version: meta.version ?? '',
    promotedAt: now.toISOString(),
    from: modelUri,
  };
  const p = pointerKey(to);
  await putJson(s3, p.bucket, p.key, pointer);
  return pointer;
}

/**
 * The model folder a URI stands for: an s3:// prefix holding pointer.json resolves to the pointer's
 * modelUri; anything else (a folder, a local path) is returned as it is.
 */
export async function resolveModelUri(s3: S3Client, uri: string | undefined): Promise<string | undefined> {
  if (!uri || !uri.startsWith('s3://')) return uri;
  const p = pointerKey(uri);
  const text = await getTextIfExists(s3, p.bucket, p.key);
  if (text === undefined) return uri;
  const ptr = JSON.parse(text) as Partial<ModelPointer>;
  if (typeof ptr.modelUri !== 'string' || !ptr.modelUri.startsWith('s3://'))
    throw new Error(`${uri}/${POINTER_FILE}: modelUri missing or not s3://`);
  return ptr.modelUri;
}

/**
 * best/ of a training run is rewritten while the run goes on (and its model.json is byte-identical
 * across epochs, which S3 model caches key on), so a pointer names the immutable epoch-E/ folder
 * holding the same model id when there is one.
 */
async function pinnedEpochFolder(s3: S3Client, target: string, id: string, epoch: number | undefined): Promise<string> {
  if (epoch === undefined || !/\/best$/.test(target)) return target;
  const candidate = target.replace(/\/best$/, `/epoch-${epoch}`);
  const l = parseS3Uri(candidate);
  const text = await getTextIfExists(s3, l.bucket, joinKey(l.prefix, 'metadata.json'));
  return text && (JSON.parse(text) as { id?: string }).id === id ? candidate : target;
}
