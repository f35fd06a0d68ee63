import type { S3Client } from '@aws-sdk/client-s3';
import { getBytesIfExists } from '../../shared/s3/objects.js';
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from '../../shared/logger.js';
import { repoRoot } from '../../shared/paths.js';
import { defaultModelDir } from '../classifier.js';
import { localModelDir } from '../io/s3-io.js';
import { parseS3Folder } from '../../shared/s3/uri.js';
import { exportModelToOnnx } from './export-model.js';
import { onceAcrossProcesses } from './file-lock.js';
import { verifyModelDir, type VerifiedModel } from '../verify-model.js';
import { readMetadataProps, writeFileAtomic } from './writer.js';

export const ONNX_FILE = 'model.onnx';
export const defaultOnnxCache = (): string => join(repoRoot(), 'models', '.cache', 'onnx');
/** A model's export in the cache; '.f': exports that carry the pooled 'features' output (older ones lack it). */
export const cachedOnnxFile = (cacheDir: string, modelId: string): string => join(cacheDir, `${modelId}.f.onnx`);

export interface OnnxModelFile {
  model: VerifiedModel;
  /** The local file the bytes came from. */
  path: string;
  source: 'beside' | 's3' | 'exported' | 'cache';
  bytes: Uint8Array;
}

const exists = (p: string) =>
  stat(p).then(
    () => true,
    () => false,
  );

/** Downloads s3://…/model.onnx beside an S3 model to `dest`; false when there is none. */
async function downloadBeside(s3: S3Client, uri: string, dest: string): Promise<boolean> {
  const { bucket, prefix } = parseS3Folder(uri);
  const bytes = await getBytesIfExists(s3, bucket, prefix + ONNX_FILE);
  if (!bytes) return false;
  await writeFileAtomic(dest, bytes);
  return true;
}

/** Throws unless the file's metadata_props modelId is the TF.js model's id. */
export function checkOnnxModelId(bytes: Uint8Array, expectedId: string, where: string): void {
  const got = readMetadataProps(bytes).modelId;
  if (got !== expectedId) {
    throw new Error(
      `${where} was exported from model ${got ?? '(no modelId)'}, but the TF.js model is ${expectedId}; re-run \`cxr models export-onnx\` (or delete the file)`,
    );
  }
}

/**
 * The ONNX file for a model: model.onnx beside it (local folder, or S3 cached as
 * <cache>/<modelId>.onnx); when there is none, <cache>/<modelId>.onnx, exported on the fly once.
 * Its metadata model id must equal the TF.js model's id.
 */
export async function ensureOnnxModel(
  opts: { modelUri?: string; s3?: S3Client; logger?: Logger; cacheDir?: string } = {},
): Promise<OnnxModelFile> {
  const uri = opts.modelUri ?? defaultModelDir();
  const model = await verifyModelDir(await localModelDir(uri, opts.s3));
  const cached = cachedOnnxFile(opts.cacheDir ?? defaultOnnxCache(), model.id);
  let path = cached;
  let source: OnnxModelFile['source'] = 'cache';
  if (!uri.startsWith('s3://') && (await exists(join(uri, ONNX_FILE)))) {
    path = join(uri, ONNX_FILE);
    source = 'beside';
  } else if (!(await exists(cached))) {
    await onceAcrossProcesses(cached, async () => {
      if (uri.startsWith('s3://') && (await downloadBeside(opts.s3!, uri, cached))) {
        source = 's3';
        return;
      }
      opts.logger?.info({ modelId: model.id, to: cached }, `no ${ONNX_FILE} beside ${uri}; exporting it`);
      await writeFileAtomic(cached, await exportModelToOnnx(model, opts.logger));
      source = 'exported';
    });
  }
  // The file's own buffer, not a copy: a copy doubles the model's bytes on the JS heap until a GC (slot-memory).
  const bytes: Uint8Array = await readFile(path);
  checkOnnxModelId(bytes, model.id, path);
  return { model, path, source, bytes };
}
