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

/**
 * Features of items x copies, in that order, from the local cache (keyed by backbone hash + image
 * sha256 + augmentation copy, as features.ts). Missing ones are computed: the images are downloaded
 * to a temp folder and run through the frozen backbone by extract.ts in a child process.
 */
export async function featuresForItems(d: FeatureDeps, bucket: string, items: readonly TrainItem[], copies: readonly number[]): Promise<{ set: FeatureSet; extracted: number; seconds: number }> {
  const started = Date.now();
  const limit = pLimit(8);
  const sha = new Map<TrainItem, string>();
  const tmp = await mkdtemp(join(tmpdir(), 'cxr-train-'));
  const local = new Map<string, string>(); // sha256 -> downloaded file
  const download = async (it: TrainItem): Promise<string> => {
    const { bytes } = await getObjectBytes(d.s3, bucket, it.key);
    const h = createHash('sha256').update(bytes).digest('hex');
    const file = join(tmp, `${h}${/\.[a-z]+$/i.exec(it.key)?.[0] ?? ''}`);
    await writeFile(file, bytes);
    local.set(h, file);
    await writeAtomic(indexPath(d, bucket, it), h);
    return h;
  };
  try {
    await Promise.all(items.map((it) => limit(async () => {
      const known = await readFile(indexPath(d, bucket, it), 'utf8').catch(() => null);
      sha.set(it, known && /^[0-9a-f]{64}$/.test(known) ? known : await download(it));
    })));
    const missing: { it: TrainItem; copy: number }[] = [];
    for (const it of items) for (const c of copies) if (!(await hasFeature(featurePath(d.featureRoot, d.backboneHash, sha.get(it)!, c)))) missing.push({ it, copy: c });
    let extracted = 0;
    if (missing.length > 0) {
      await Promise.all([...new Set(missing.map((m) => m.it))].filter((it) => !local.has(sha.get(it)!)).map((it) => limit(() => download(it))));
      const jobs: FeatureJob[] = [];
      const seen = new Set<string>();
      for (const m of missing) {
        const h = sha.get(m.it)!;
        if (seen.has(`${h}-${m.copy}`)) continue;
        seen.add(`${h}-${m.copy}`);
        jobs.push({ path: local.get(h)!, sha256: h, copy: m.copy });
      }
      const r = await extractFeatures(jobs, { backboneDir: await d.backboneDir(), backboneHash: d.backboneHash, featureRoot: d.featureRoot, workers: d.workers ?? 1, logger: d.logger });
      extracted = r.computed;
    }
    const n = items.length * copies.length;
    const x = new Float32Array(n * FEATURE_DIM);
    const y = new Uint8Array(n);
    let row = 0;
    for (const it of items) {
      for (const c of copies) {
        x.set(await readFeature(featurePath(d.featureRoot, d.backboneHash, sha.get(it)!, c)), row * FEATURE_DIM);
        y[row++] = it.label;
      }
    }
    return { set: { x, y, n, dim: FEATURE_DIM }, extracted, seconds: (Date.now() - started) / 1000 };
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}
