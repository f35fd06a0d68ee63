import { rm } from 'node:fs/promises';
import {
  activationPath,
  defaultActivationDir,
  hasActivation,
  readActivationInto,
  activationLength,
  type PrefixLayer,
} from '../../model/finetune/activations.js';
import { extractPrefix } from '../../model/finetune/prefix-extract.js';
import { featurePath, hasFeature, type FeatureJob } from '../../model/train/features.js';
import { localImages, type FeatureDeps } from '../features-s3.js';
import type { TrainItem } from '../types.js';

export interface ItemActivations {
  /** Image content sha256 per item. */
  sha: Map<TrainItem, string>;
  extracted: number;
  seconds: number;
  imagesPerSec: number;
}

/**
 * Makes sure the prefix activations (and GAP features) of items x copies are in the local caches,
 * downloading and running the frozen prefix on ONNX Runtime for the missing ones.
 */
export async function activationsForItems(
  d: FeatureDeps,
  bucket: string,
  items: readonly TrainItem[],
  copies: readonly number[],
  layer: PrefixLayer,
): Promise<ItemActivations> {
  const started = Date.now();
  const root = d.activationRoot ?? defaultActivationDir();
  const cached = async (h: string, c: number) =>
    (await hasActivation(activationPath(root, d.backboneHash, layer, h, c), layer)) &&
    (await hasFeature(featurePath(d.featureRoot, d.backboneHash, h, c)));
  const missingAny = async (h: string) => {
    for (const c of copies) if (!(await cached(h, c))) return true;
    return false;
  };
  const local = await localImages(d, bucket, items, missingAny);
  try {
    const jobs: FeatureJob[] = [];
    for (const it of items) {
      const h = local.sha.get(it)!;
      for (const c of copies)
        if (local.file.has(h) && !(await cached(h, c))) jobs.push({ path: local.file.get(h)!, sha256: h, copy: c });
    }
    // CXR_PREFIX_THREADS: ONNX Runtime threads for the prefix. Two trainers on two cores run best with one
    // each: a two-thread pool per process on a shared pair of cores stalls at every barrier.
    const threads = Number(process.env.CXR_PREFIX_THREADS) > 0 ? Number(process.env.CXR_PREFIX_THREADS) : undefined;
    const r = await extractPrefix(jobs, {
      backboneDir: await d.backboneDir(),
      backboneHash: d.backboneHash,
      featureRoot: d.featureRoot,
      activationRoot: root,
      layer,
      logger: d.logger,
      threads,
    });
    return {
      sha: local.sha,
      extracted: r.computed,
      seconds: (Date.now() - started) / 1000,
      imagesPerSec: r.imagesPerSec,
    };
  } finally {
    await local.cleanup();
  }
}

/** Reads cached activations (sha256, copy) into one float32 batch, NHWC. */
export async function readActivationBatch(
  d: Pick<FeatureDeps, 'activationRoot' | 'backboneHash'>,
  layer: PrefixLayer,
  entries: readonly { sha: string; copy: number }[],
): Promise<Float32Array> {
  const root = d.activationRoot ?? defaultActivationDir();
  const len = activationLength(layer);
  const out = new Float32Array(entries.length * len);
  await Promise.all(
    entries.map((e, k) =>
      readActivationInto(activationPath(root, d.backboneHash, layer, e.sha, e.copy), layer, out, k * len),
    ),
  );
  return out;
}

/** Deletes the cached activations and GAP features of (image, copy): a variant no later round reads. */
export async function dropActivations(
  d: Pick<FeatureDeps, 'activationRoot' | 'backboneHash' | 'featureRoot'>,
  shas: readonly string[],
  copies: readonly number[],
  layer: PrefixLayer,
): Promise<void> {
  const root = d.activationRoot ?? defaultActivationDir();
  for (const h of shas) {
    for (const c of copies) {
      await rm(activationPath(root, d.backboneHash, layer, h, c), { force: true });
      await rm(featurePath(d.featureRoot, d.backboneHash, h, c), { force: true });
    }
  }
}

/**
 * `f` over the activations of items as variant `copy` (computed first where missing), in batches of
 * `batch`, its per-item outputs concatenated in item order: how a model is scored on cached activations.
 */
export async function mapActivations(
  d: FeatureDeps,
  bucket: string,
  items: readonly TrainItem[],
  copy: number,
  layer: PrefixLayer,
  f: (x: Float32Array, n: number) => Float32Array,
  batch = 32,
): Promise<Float32Array> {
  const acts = await activationsForItems(d, bucket, items, [copy], layer);
  const out = new Float32Array(items.length);
  for (let i = 0; i < items.length; i += batch) {
    const b = items.slice(i, i + batch);
    const x = await readActivationBatch(
      d,
      layer,
      b.map((it) => ({ sha: acts.sha.get(it)!, copy })),
    );
    out.set(f(x, b.length), i);
  }
  return out;
}
