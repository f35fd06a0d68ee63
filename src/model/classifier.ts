import * as tf from '@tensorflow/tfjs';
import type { S3Client } from '@aws-sdk/client-s3';
import { join } from 'node:path';
import type { Logger } from '../shared/logger.js';
import { repoRoot } from '../shared/paths.js';
import { ensureBackbone } from './backbone-fetch.js';
import { loadBackbone } from './backbone.js';
import { ensureBackend } from './backend.js';
import { fsIO } from './io/fs-io.js';
import { localModelDir } from './io/s3-io.js';
import { verifyModelDir } from './verify-model.js';
import type { ResNetTop } from './resnet50.js';

export interface ModelInfo {
  /** sha256 hex (first 16) of backbone sums + head weights + metadata. */
  id: string;
  name: string;
  version: string;
  threshold: number;
  /** ['NORMAL', 'PNEUMONIA'] */
  classNames: [string, string];
  /** 224 */
  inputSize: number;
}

export interface PneumoniaClassifier {
  readonly info: ModelInfo;
  readonly backend: string;
  /** input: n images, each inputSize*inputSize*3 floats already caffe-preprocessed, NHWC. Returns P(PNEUMONIA) per image. Runs as ONE batch tensor. */
  predict(input: Float32Array, n: number): Promise<Float32Array>;
  dispose(): void;
}

export const defaultModelDir = (): string => join(repoRoot(), 'models', 'pneumonia-resnet50');

/**
 * Loads the frozen ResNet50 backbone (verified ImageNet weights) and the trained head, checking that
 * the head was trained on this backbone and that its id matches its content.
 */
export async function loadClassifier(opts: { modelUri?: string; s3?: S3Client; logger?: Logger } = {}): Promise<PneumoniaClassifier> {
  const started = Date.now();
  const log = opts.logger;
  const backend = await ensureBackend(log);
  const dir = await localModelDir(opts.modelUri ?? defaultModelDir(), opts.s3);
  const { meta, id } = await verifyModelDir(dir);
  const [backbone, head] = await Promise.all([
    ensureBackbone(undefined, { logger: log }).then((d) => loadBackbone(d, (meta.backbone.featureLayer || 'activation_48') as ResNetTop)),
    tf.loadLayersModel(fsIO(dir)),
  ]);
  const size = meta.inputSize;
  const info: ModelInfo = { id, name: meta.name, version: meta.version, threshold: meta.threshold, classNames: meta.classNames, inputSize: size };
  log?.info({ model: info, backend: backend.name, loadMs: Date.now() - started }, 'classifier loaded');
  let disposed = false;
  return {
    info,
    backend: backend.name,
    async predict(input: Float32Array, n: number): Promise<Float32Array> {
      if (disposed) throw new Error('classifier disposed');
      if (!Number.isInteger(n) || n < 1) throw new Error(`predict: n must be a positive integer, got ${n}`);
      if (input.length !== n * size * size * 3) throw new Error(`predict: input has ${input.length} floats, expected ${n}x${size}x${size}x3 = ${n * size * size * 3}`);
      const out = tf.tidy(() => head.predict(backbone.predict(tf.tensor4d(input, [n, size, size, 3])) as tf.Tensor) as tf.Tensor);
      try {
        return new Float32Array(await out.data());
      } finally {
        out.dispose();
      }
    },
    dispose(): void {
      if (disposed) return;
      disposed = true;
      backbone.dispose();
      head.dispose();
    },
  };
}
