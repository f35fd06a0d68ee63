import type { S3Client } from '@aws-sdk/client-s3';
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { tmpdir } from 'node:os';
import pLimit from 'p-limit';
import type { Logger } from '../shared/logger.js';
import { getObjectBytes } from '../shared/s3/objects.js';
import { extractFeatures } from '../model/train/extract.js';
import { FEATURE_DIM, featurePath, hasFeature, readFeature, type FeatureJob } from '../model/train/features.js';
import type { FeatureSet } from '../model/train/head-train.js';
import type { TrainItem } from './types.js';

export interface FeatureDeps {
  s3: S3Client;
  featureRoot: string;
  backboneHash: string;
  /** Verified backbone folder (fetched on first use). */
  backboneDir: () => Promise<string>;
  logger: Logger;
  /** Prefix-activation cache for fine-tuning (activations.ts); default models/.cache/activations. */
  activationRoot?: string;
  /** Child processes for extraction (each its own tfjs + WASM); default 1. */
  workers?: number;
}

/** Local index file mapping an S3 object version (bucket, key, ETag) to its content sha256. */
function indexPath(d: FeatureDeps, bucket: string, it: TrainItem): string {
  const h = createHash('sha256').update(`${bucket}\n${it.key}\n${it.etag}`).digest('hex');
  return join(d.featureRoot, d.backboneHash.slice(0, 16), 's3-index', h.slice(0, 2), h);
}

async function writeAtomic(p: string, data: string | Uint8Array): Promise<void> {
  await mkdir(dirname(p), { recursive: true });
  const tmp = `${p}.${process.pid}.tmp`;
  await writeFile(tmp, data);
  await rename(tmp, p);
}

/** Content hashes of items (local index, else download) and, for those `missing` says need it, a downloaded file. */
export interface LocalImages {
  sha: Map<TrainItem, string>;
  file: Map<string, string>;
  cleanup: () => Promise<void>;
}

/**
 * Resolves each item's content sha256 through the local index (downloading unknown objects) and makes
 * sure every item for which `missing(sha)` is true has a local file to compute from.
 */
export async function localImages(
  d: FeatureDeps,
  bucket: string,
  items: readonly TrainItem[],
  missing: (sha: string) => Promise<boolean>,
): Promise<LocalImages> {
  const limit = pLimit(8);
  const sha = new Map<TrainItem, string>();
  const tmp = await mkdtemp(join(tmpdir(), 'cxr-train-'));
  const file = new Map<string, string>(); // sha256 -> downloaded file
  const cleanup = () => rm(tmp, { recursive: true, force: true });
  const download = async (it: TrainItem): Promise<string> => {
    const { bytes } = await getObjectBytes(d.s3, bucket, it.key);
    const h = createHash('sha256').update(bytes).digest('hex');
    const f = join(tmp, `${h}${/\.[a-z]+$/i.exec(it.key)?.[0] ?? ''}`);
    await writeFile(f, bytes);
    file.set(h, f);
    await writeAtomic(indexPath(d, bucket, it), h);
    return h;
  };
  try {
    await Promise.all(
      items.map((it) =>
        limit(async () => {
          const known = await readFile(indexPath(d, bucket, it), 'utf8').catch(() => null);
          sha.set(it, known && /^[0-9a-f]{64}$/.test(known) ? known : await download(it));
        }),
      ),
    );
    const need: TrainItem[] = [];
    for (const it of items) if (!file.has(sha.get(it)!) && (await missing(sha.get(it)!))) need.push(it);
    await Promise.all(
      [...new Set(need)].map((it) =>
        limit(async () => {
          if (!file.has(sha.get(it)!)) await download(it);
        }),
      ),
    );
    return { sha, file, cleanup };
  } catch (err) {
    await cleanup();
    throw err;
  }
}

/**
 * Features of items x copies, in that order, from the local cache (keyed by backbone hash + image
 * sha256 + augmentation copy, as features.ts). Missing ones are computed: the images are downloaded
 * to a temp folder and run through the frozen backbone by extract.ts in a child process.
 */
export async function featuresForItems(
  d: FeatureDeps,
  bucket: string,
  items: readonly TrainItem[],
  copies: readonly number[],
): Promise<{ set: FeatureSet; extracted: number; seconds: number }> {
  const started = Date.now();
  const path = (h: string, c: number) => featurePath(d.featureRoot, d.backboneHash, h, c);
  const missingAny = async (h: string) => {
    for (const c of copies) if (!(await hasFeature(path(h, c)))) return true;
    return false;
  };
  const local = await localImages(d, bucket, items, missingAny);
  try {
    const jobs: FeatureJob[] = [];
    const seen = new Set<string>();
    for (const it of items) {
      const h = local.sha.get(it)!;
      for (const c of copies) {
        if (seen.has(`${h}-${c}`) || (await hasFeature(path(h, c)))) continue;
        seen.add(`${h}-${c}`);
        jobs.push({ path: local.file.get(h)!, sha256: h, copy: c });
      }
    }
    let extracted = 0;
    if (jobs.length > 0) {
      const r = await extractFeatures(jobs, {
        backboneDir: await d.backboneDir(),
        backboneHash: d.backboneHash,
        featureRoot: d.featureRoot,
        workers: d.workers ?? 1,
        logger: d.logger,
      });
      extracted = r.computed;
    }
    const n = items.length * copies.length;
    const x = new Float32Array(n * FEATURE_DIM);
    const y = new Uint8Array(n);
    let row = 0;
    for (const it of items) {
      for (const c of copies) {
        x.set(await readFeature(path(local.sha.get(it)!, c)), row * FEATURE_DIM);
        y[row++] = it.label;
      }
    }
    return { set: { x, y, n, dim: FEATURE_DIM }, extracted, seconds: (Date.now() - started) / 1000 };
  } finally {
    await local.cleanup();
  }
}
