import * as tf from '@tensorflow/tfjs';
import { copyFile, mkdir, readFile, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { halfPrecisionArtifacts } from '../io/fp16.js';
import { readModelDir, writeModelDir } from '../io/fs-io.js';
import { readMetadata, type HeadMetadata } from '../metadata.js';
import { modelIdOfDir } from '../model-id.js';
import type { TrainFrom } from '../resnet50.js';
import { decodeArtifactWeights, setWeightsByName } from '../weights.js';
import { bnLayers, buildSuffixModel, type SuffixModel } from './suffix-model.js';
import {
  bnStatsOf,
  decodeSiteStats,
  encodeSiteStats,
  featureStatsOf,
  momentsOf,
  siteStatsOf,
  type ActivationBatches,
  type SiteStats,
} from './site-stats.js';

export const SITE_STATS_FILE = 'site-stats.bin';

/** A fine-tuned model folder loaded for adaptation. */
export interface LoadedFinetuned {
  dir: string;
  meta: HeadMetadata;
  model: SuffixModel;
  reference?: SiteStats;
}

export async function loadFinetuned(dir: string): Promise<LoadedFinetuned> {
  const meta = await readMetadata(dir);
  const trainFrom = meta.trainFrom as TrainFrom | undefined;
  if (!trainFrom)
    throw new Error(
      `model ${meta.name} ${meta.version} (${meta.id}) trains the head alone: adaptation needs a fine-tuned model (2.0.0 or later)`,
    );
  const model = buildSuffixModel(trainFrom);
  const w = decodeArtifactWeights(await readModelDir(dir));
  try {
    setWeightsByName(model.full, w);
  } finally {
    tf.dispose(Object.values(w));
  }
  const layers = bnLayers(model).map((l) => l.name);
  const p = join(dir, SITE_STATS_FILE);
  const reference = existsSync(p) ? decodeSiteStats(new Uint8Array(await readFile(p)), layers) : undefined;
  return { dir, meta, model, reference };
}

/** Moves each BatchNorm layer's moving statistics by the site's difference from the reference (AdaBN, relative). */
export function shiftBn(
  m: SuffixModel,
  ref: SiteStats,
  site: { mean: Float32Array[]; variance: Float32Array[] },
): void {
  bnLayers(m).forEach((layer, i) => {
    if (ref.layers[i] !== layer.name)
      throw new Error(`site statistics are for layer ${ref.layers[i]}, model has ${layer.name}`);
    const [gamma, beta, mm, mv] = layer.getWeights();
    const mean = mm.dataSync() as Float32Array;
    const variance = mv.dataSync() as Float32Array;
    const newMean = Float32Array.from(mean, (v, c) => v + site.mean[i][c] - ref.bnMean[i][c]);
    const newVar = Float32Array.from(variance, (v, c) =>
      ref.bnVar[i][c] > 1e-12 ? (v * site.variance[i][c]) / ref.bnVar[i][c] : v,
    );
    layer.setWeights([gamma, beta, tf.tensor1d(newMean), tf.tensor1d(newVar)]);
  });
}

/** Re-standardises the head's input: the Dense on raw features keeps its decision in standardised units of the new site. Pure. */
export function restandardise(
  kernel: Float32Array,
  bias: number,
  from: { mean: Float32Array; std: Float32Array },
  to: { mean: Float32Array; std: Float32Array },
): { kernel: Float32Array; bias: number } {
  const k = new Float32Array(kernel.length);
  let b = bias;
  for (let j = 0; j < kernel.length; j++) {
    const ks = kernel[j] * from.std[j];
    b += kernel[j] * from.mean[j] - (ks * to.mean[j]) / to.std[j];
    k[j] = ks / to.std[j];
  }
  return { kernel: k, bias: b };
}

/**
 * Label-free adaptation to a site: BatchNorm statistics shifted by (site - reference), then the head
 * re-standardised from the reference's GAP-feature statistics to the site's. The site's statistics
 * become the new reference.
 */
export interface AdaptOptions {
  /** Also re-standardise the head's input from the reference's feature statistics to the site's (default false). */
  restandardiseHead?: boolean;
}

export async function adaptToSite(
  f: LoadedFinetuned,
  batches: ActivationBatches,
  opts: AdaptOptions = {},
): Promise<SiteStats> {
  if (!f.reference)
    throw new Error(
      `model ${f.meta.id} carries no ${SITE_STATS_FILE} (its training images' statistics); run \`cxr models adapt --as-reference\` on its training data first`,
    );
  const bn = await bnStatsOf(f.model, batches);
  const moments = momentsOf(bn);
  shiftBn(f.model, f.reference, moments);
  const feat = await featureStatsOf(f.model, batches);
  if (opts.restandardiseHead) {
    const [k, b] = f.model.dense.getWeights();
    const head = restandardise(
      k.dataSync() as Float32Array,
      b.dataSync()[0],
      { mean: f.reference.featMean, std: f.reference.featStd },
      feat,
    );
    f.model.dense.setWeights([tf.tensor2d(head.kernel, [head.kernel.length, 1]), tf.tensor1d([head.bias])]);
  }
  return {
    n: bn.n,
    layers: bn.layers,
    bnMean: moments.mean,
    bnVar: moments.variance,
    featMean: feat.mean,
    featStd: feat.std,
  };
}

/** Measures the model's own statistics on data (its training images) without changing it. */
export const referenceStats = (f: LoadedFinetuned, batches: ActivationBatches): Promise<SiteStats> =>
  siteStatsOf(f.model, batches);

/**
 * Writes the (adapted) model as a new version into `out`: weights (float16), the stats as its new
 * reference, the other files copied, metadata with a new id and `provenance` appended.
 */
export async function writeAdapted(
  f: LoadedFinetuned,
  stats: SiteStats,
  out: string,
  provenance: Record<string, unknown>,
  version?: string,
): Promise<HeadMetadata> {
  await mkdir(out, { recursive: true });
  await f.model.full.save({ save: (a) => writeModelDir(out, halfPrecisionArtifacts(a)) });
  const statsBytes = encodeSiteStats(stats);
  await writeFile(join(out, SITE_STATS_FILE), statsBytes);
  if (existsSync(join(f.dir, 'feature-stats.bin')))
    await copyFile(join(f.dir, 'feature-stats.bin'), join(out, 'feature-stats.bin'));
  const history = Array.isArray(f.meta.provenance) ? f.meta.provenance : [];
  const meta: HeadMetadata = {
    ...f.meta,
    id: '',
    version: version ?? f.meta.version,
    siteStats: {
      file: SITE_STATS_FILE,
      sha256: createHash('sha256').update(statsBytes).digest('hex'),
      images: stats.n,
      bnLayers: stats.layers,
    },
    provenance: [...history, { ...provenance, from: f.meta.id, at: new Date().toISOString() }],
  };
  meta.id = await modelIdOfDir(out, f.meta.backbone.sha256, meta);
  await writeFile(join(out, 'metadata.json'), JSON.stringify(meta, null, 2) + '\n');
  return meta;
}
