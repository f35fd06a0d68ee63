import * as tf from '@tensorflow/tfjs';
import { HeadObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { getBytesIfExists, getObjectBytes, putObject } from '../../shared/s3/objects.js';
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { repoRoot } from '../../shared/paths.js';
import { writeModelDir } from './fs-io.js';
import { shippedModelDir } from './shipped-models.js';
import { parseS3Folder } from '../../shared/s3/uri.js';

async function getBytes(client: S3Client, bucket: string, key: string): Promise<Uint8Array> {
  return (await getObjectBytes(client, bucket, key)).bytes;
}

interface ManifestJson {
  weightsManifest: tf.io.WeightsManifestConfig;
  [k: string]: unknown;
}

/** TF.js IOHandler over s3://bucket/prefix/ (model.json + weight shards), using the given client. */
export function s3IO(client: S3Client, uri: string): tf.io.IOHandler {
  const { bucket, prefix } = parseS3Folder(uri);
  return {
    async load() {
      const json = JSON.parse(
        Buffer.from(await getBytes(client, bucket, `${prefix}model.json`)).toString('utf8'),
      ) as ManifestJson;
      const specs: tf.io.WeightsManifestEntry[] = [];
      const bufs: ArrayBuffer[] = [];
      for (const g of json.weightsManifest) {
        specs.push(...g.weights);
        for (const p of g.paths) {
          const b = await getBytes(client, bucket, prefix + p);
          bufs.push(b.slice().buffer as ArrayBuffer);
        }
      }
      return {
        modelTopology: json.modelTopology as object,
        format: json.format as string | undefined,
        generatedBy: json.generatedBy as string | undefined,
        convertedBy: json.convertedBy as string | null | undefined,
        weightSpecs: specs,
        weightData: tf.io.concatenateArrayBuffers(bufs),
      };
    },
    async save(a) {
      const data =
        a.weightData === undefined
          ? new ArrayBuffer(0)
          : Array.isArray(a.weightData)
            ? tf.io.concatenateArrayBuffers(a.weightData)
            : a.weightData;
      const json = {
        modelTopology: a.modelTopology,
        format: a.format,
        generatedBy: a.generatedBy,
        convertedBy: a.convertedBy ?? null,
        weightsManifest: [{ paths: ['weights.bin'], weights: a.weightSpecs ?? [] }],
      };
      await putObject(client, bucket, `${prefix}weights.bin`, new Uint8Array(data), 'application/octet-stream');
      await putObject(client, bucket, `${prefix}model.json`, JSON.stringify(json), 'application/json');
      return {
        modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON', weightDataBytes: data.byteLength },
      };
    },
  };
}

async function loadArtifacts(io: tf.io.IOHandler): Promise<tf.io.ModelArtifacts> {
  if (!io.load) throw new Error('IOHandler cannot load');
  return io.load();
}

const SIDE_FILES = [
  'metadata.json',
  'MODEL_CARD.md',
  'feature-stats.bin',
  'site-stats.bin',
  'ood-stats.json',
  'ood-stats.bin',
  'data-hashes.bin',
  // INT8 as the default engine: its parity record and the ranges its file is built from (int8-model.ts).
  'int8-calibration.json',
  'int8-parity.json',
];

/** Uploads a local model folder's files (model.json, shards, metadata) to s3://bucket/prefix/. */
export async function uploadModelDir(client: S3Client, dir: string, uri: string, files: string[]): Promise<void> {
  const { bucket, prefix } = parseS3Folder(uri);
  for (const f of files)
    await putObject(
      client,
      bucket,
      prefix + f,
      await readFile(join(dir, f)),
      f.endsWith('.json') ? 'application/json' : 'application/octet-stream',
    );
}

/**
 * Downloads model.json, its shards and metadata.json once into cacheDir/<hash of uri + model.json ETag>/
 * and returns that folder; later calls (any process) reuse it. Written to a temp dir, then renamed.
 */
export async function cachedS3Model(client: S3Client, uri: string, cacheDir: string): Promise<string> {
  const { bucket, prefix } = parseS3Folder(uri);
  const head = await client
    .send(new HeadObjectCommand({ Bucket: bucket, Key: `${prefix}model.json` }))
    .catch((err: unknown) => {
      throw modelObjectError(err, uri, `s3://${bucket}/${prefix}model.json`);
    });
  const tag = head.ETag ?? head.LastModified?.toISOString() ?? '';
  const key = createHash('sha256').update(`${bucket}/${prefix}\n${tag}`).digest('hex').slice(0, 16);
  const dir = join(cacheDir, key);
  if (
    await stat(join(dir, 'model.json')).then(
      () => true,
      () => false,
    )
  )
    return dir;
  await mkdir(cacheDir, { recursive: true });
  const tmp = await mkdtemp(join(cacheDir, '.dl-'));
  try {
    const artifacts = await loadArtifacts(s3IO(client, uri));
    await writeModelDir(tmp, artifacts);
    for (const f of SIDE_FILES) {
      const bytes = await getBytesIfExists(client, bucket, prefix + f);
      if (bytes) await writeFile(join(tmp, f), bytes);
    }
    try {
      await rename(tmp, dir);
    } catch (err) {
      if (
        !(await stat(join(dir, 'model.json')).then(
          () => true,
          () => false,
        ))
      )
        throw err; // lost a benign race
    }
    return dir;
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}

/**
 * A model object that cannot be read, said as people look for it: a HEAD of a missing key answers 404 with
 * no body, which the SDK reports as "UnknownError" or "NotFound"; S3 answers 403 instead when the caller
 * may not list the bucket.
 */
export function modelObjectError(err: unknown, uri: string, object: string): Error {
  const status = (err as { $metadata?: { httpStatusCode?: number } })?.$metadata?.httpStatusCode;
  const name = (err as Error)?.name;
  if (status === 404 || name === 'NotFound' || name === 'NoSuchKey' || name === 'NoSuchBucket')
    return new Error(`model ${uri} not found: no ${object}`);
  if (status === 403)
    return new Error(
      `model ${uri}: access denied to ${object} (S3 answers 403 for a missing object when s3:ListBucket is not granted)`,
    );
  return err instanceof Error ? err : new Error(String(err));
}

export const defaultS3ModelCache = (): string => join(repoRoot(), 'models', '.cache', 's3-models');

/** Local folder of a model URI: a shipped model's id or name@version, a folder as is, an s3:// model downloaded once into the model cache. */
export async function localModelDir(uri: string, s3?: S3Client): Promise<string> {
  if (!uri.startsWith('s3://')) {
    const dir = (await shippedModelDir(uri)) ?? uri;
    if (
      !(await stat(dir).then(
        (s) => s.isDirectory(),
        () => false,
      ))
    ) {
      throw new Error(
        `model ${uri} not found: no folder ${resolve(dir)} (a model is a folder, a shipped model's id or name@version, or s3://bucket/prefix/)`,
      );
    }
    return dir;
  }
  if (!s3) throw new Error(`model ${uri} needs an S3 client`);
  return cachedS3Model(s3, uri, defaultS3ModelCache());
}
