import * as tf from '@tensorflow/tfjs';
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import type { S3Client } from '@aws-sdk/client-s3';
import { repoRoot } from '../../shared/paths.js';
import { BACKBONE_PACKAGE, defaultSumsFile } from '../backbone-fetch.js';
import { halfPrecisionArtifacts } from '../io/fp16.js';
import { writeModelDir } from '../io/fs-io.js';
import { uploadModelDir } from '../io/s3-io.js';
import type { HeadMetadata } from '../metadata.js';
import { modelIdOfDir } from '../model-id.js';
import { foldNorm } from '../train/fold-norm.js';
import { PREFIX_TOP } from '../resnet50.js';
import { CLASS_NAMES } from '../train/dataset.js';
import type { FeatureNorm } from './finetune-step.js';
import type { SuffixModel } from './suffix-model.js';

/** Files of a fine-tuned model folder. feature-stats.bin: the GAP features' training mean then std (float32), for `models adapt`. */
export const FINETUNE_FILES = ['model.json', 'weights.bin', 'metadata.json', 'feature-stats.bin'];

export interface FinetuneExport {
  threshold: number;
  thresholdRule: string;
  version: string;
  backboneSha256: string;
  extra: Record<string, unknown>;
}

/**
 * Writes a scorer-loadable model folder: the suffix + head as one TF.js layers model (standardisation
 * folded into the Dense, weights stored as float16), feature-stats.bin, and metadata.json whose
 * backbone.featureLayer names the frozen prefix's output. Returns the metadata (with its content id).
 */
export async function writeFinetunedModel(
  dir: string,
  m: SuffixModel,
  norm: FeatureNorm,
  e: FinetuneExport,
): Promise<HeadMetadata> {
  const prefixTop = PREFIX_TOP[m.trainFrom];
  if (!prefixTop) throw new Error('train-from all has no frozen prefix; the scorer loads a prefix + suffix model');
  const [kernelT, biasT] = m.dense.getWeights();
  const trained = { kernel: kernelT.dataSync() as Float32Array, bias: biasT.dataSync()[0] };
  const raw = foldNorm(trained.kernel, trained.bias, norm.mean, norm.std);
  m.dense.setWeights([tf.tensor2d(raw.kernel, [raw.kernel.length, 1]), tf.tensor1d([raw.bias])]);
  try {
    await m.full.save({ save: (a) => writeModelDir(dir, halfPrecisionArtifacts(a)) });
  } finally {
    m.dense.setWeights([tf.tensor2d(trained.kernel, [trained.kernel.length, 1]), tf.tensor1d([trained.bias])]);
  }
  const stats = new Float32Array(norm.mean.length * 2);
  stats.set(norm.mean);
  stats.set(norm.std, norm.mean.length);
  const statsBytes = new Uint8Array(stats.buffer);
  await writeFile(join(dir, 'feature-stats.bin'), statsBytes);
  const meta: HeadMetadata = {
    id: '',
    name: 'pneumonia-resnet50',
    version: e.version,
    threshold: e.threshold,
    thresholdRule: e.thresholdRule,
    classNames: [...CLASS_NAMES] as [string, string],
    inputSize: 224,
    backbone: {
      package: BACKBONE_PACKAGE,
      sumsFile: relative(repoRoot(), defaultSumsFile()),
      sha256: e.backboneSha256,
      featureLayer: prefixTop,
    },
    trainFrom: m.trainFrom,
    head: {
      layers: [
        `ResNet50 ${m.trainFrom === 'conv5' ? 'stage 5' : 'stages 4-5'} (fine-tuned)`,
        'GlobalAveragePooling2D',
        'Dense(1, sigmoid)',
      ],
      trainedOn: 'cached fp16 prefix activations, federated averaging over shard jobs',
      weightsDtype: 'float16',
    },
    featureStats: { file: 'feature-stats.bin', sha256: createHash('sha256').update(statsBytes).digest('hex') },
    ...e.extra,
  };
  meta.id = await modelIdOfDir(dir, e.backboneSha256, meta);
  await writeFile(join(dir, 'metadata.json'), JSON.stringify(meta, null, 2) + '\n');
  return meta;
}

/** writeFinetunedModel into s3://bucket/prefix/. */
export async function exportFinetunedModel(
  s3: S3Client,
  bucket: string,
  prefix: string,
  m: SuffixModel,
  norm: FeatureNorm,
  e: FinetuneExport,
): Promise<HeadMetadata> {
  const dir = await mkdtemp(join(tmpdir(), 'cxr-model-'));
  try {
    const meta = await writeFinetunedModel(dir, m, norm, e);
    await uploadModelDir(s3, dir, `s3://${bucket}/${prefix.replace(/\/?$/, '/')}`, FINETUNE_FILES);
    return meta;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** feature-stats.bin of a fine-tuned model folder (as writeFinetunedModel writes it): the GAP features' mean, then std. */
export async function readFeatureStats(dir: string): Promise<FeatureNorm> {
  const b = await readFile(join(dir, 'feature-stats.bin'));
  const stats = new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
  const dim = stats.length / 2;
  return { mean: stats.slice(0, dim), std: stats.slice(dim) };
}
