import type { S3Client } from '@aws-sdk/client-s3';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { BACKBONE_PACKAGE, defaultSumsFile } from '../model/backbone-fetch.js';
import { buildHead, setHeadDense } from '../model/head.js';
import { fsIO } from '../model/io/fs-io.js';
import { uploadModelDir } from '../model/io/s3-io.js';
import type { HeadMetadata } from '../model/metadata.js';
import { modelIdOfDir } from '../model/model-id.js';
import { CLASS_NAMES } from '../model/train/dataset.js';
import { repoRoot } from '../shared/paths.js';

export const MODEL_FILES = ['model.json', 'weights.bin', 'metadata.json'];

export interface ExportInput {
  kernel: Float32Array; // raw-feature space
  bias: number;
  dropout: number;
  threshold: number;
  thresholdRule: string;
  version: string;
  backboneSha256: string;
  extra: Record<string, unknown>;
}

/** Builds the head layer with these weights, writes a model folder (model.json, weights.bin, metadata.json) to s3://bucket/prefix/. */
export async function exportModel(s3: S3Client, bucket: string, prefix: string, m: ExportInput): Promise<HeadMetadata> {
  const dir = await mkdtemp(join(tmpdir(), 'cxr-model-'));
  try {
    const head = buildHead(m.dropout);
    setHeadDense(head, m.kernel, m.bias);
    await head.save(fsIO(dir));
    head.dispose();
    const meta: HeadMetadata = {
      id: '',
      name: 'pneumonia-resnet50',
      version: m.version,
      threshold: m.threshold,
      thresholdRule: m.thresholdRule,
      classNames: [...CLASS_NAMES] as [string, string],
      inputSize: 224,
      backbone: {
        package: BACKBONE_PACKAGE,
        sumsFile: relative(repoRoot(), defaultSumsFile()),
        sha256: m.backboneSha256,
        featureLayer: 'activation_48',
      },
      head: {
        layers: ['GlobalAveragePooling2D', `Dropout(${m.dropout})`, 'Dense(1, sigmoid)'],
        trainedOn: 'cached GAP features, federated averaging over shard jobs',
      },
      ...m.extra,
    };
    meta.id = await modelIdOfDir(dir, m.backboneSha256, meta);
    await writeFile(join(dir, 'metadata.json'), JSON.stringify(meta, null, 2) + '\n');
    await uploadModelDir(s3, dir, `s3://${bucket}/${prefix.replace(/\/?$/, '/')}`, MODEL_FILES);
    return meta;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
