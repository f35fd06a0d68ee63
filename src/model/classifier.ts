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
import { mahalanobis } from './ood/mahalanobis.js';
import { loadOodModel } from './ood/stats-file.js';
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
  /** Present when the model ships OOD stats: Mahalanobis distances above it are 'out of distribution'. */
  oodThreshold?: number;
}

/** One batch's outputs: P(PNEUMONIA); the pooled features (n×dim) when the engine exposes them; OOD distances when the model ships OOD stats. */
export interface Scores {
  probabilities: Float32Array;
  features?: Float32Array;
  ood?: Float32Array;
}

export interface PneumoniaClassifier {
  readonly info: ModelInfo;
  readonly backend: string;
  /** input: n images, each inputSize*inputSize*3 floats already caffe-preprocessed, NHWC. Returns P(PNEUMONIA) per image. Runs as ONE batch tensor. */
  predict(input: Float32Array, n: number): Promise<Float32Array>;
  /** predict, plus OOD distances from the pooled backbone features of the same run. */
  score?(input: Float32Array, n: number): Promise<Scores>;
  dispose(): void;
}

export const defaultModelDir = (): string => join(repoRoot(), 'models', 'pneumonia-resnet50');

/**
 * Loads the frozen ResNet50 backbone (verified ImageNet weights) and the trained head, checking that
 * the head was trained on this backbone and that its id matches its content.
 */
export async function loadClassifier(
  opts: { modelUri?: string; s3?: S3Client; logger?: Logger } = {},
): Promise<PneumoniaClassifier> {
  const started = Date.now();
  const log = opts.logger;
  const backend = await ensureBackend(log);
  const dir = await localModelDir(opts.modelUri ?? defaultModelDir(), opts.s3);
  const { meta, id } = await verifyModelDir(dir);
  const [backbone, head] = await Promise.all([
    ensureBackbone(undefined, { logger: log }).then((d) =>
      loadBackbone(d, (meta.backbone.featureLayer || 'activation_48') as ResNetTop),
    ),
    tf.loadLayersModel(fsIO(dir)),
  ]);
  const size = meta.inputSize;
  const ood = await loadOodModel(dir, log);
  const info: ModelInfo = {
    id,
    name: meta.name,
    version: meta.version,
    threshold: meta.threshold,
    classNames: meta.classNames,
    inputSize: size,
    ...(ood ? { oodThreshold: ood.meta.threshold } : {}),
  };
  log?.info({ model: info, backend: backend.name, loadMs: Date.now() - started }, 'classifier loaded');
  // The head with its pooled features as a second output, for the OOD distance.
  const pool = head.layers.filter((l) => l.getClassName() === 'GlobalAveragePooling2D').at(-1);
  const pooled = pool
    ? tf.model({ inputs: head.inputs, outputs: [head.outputs[0], pool.output as tf.SymbolicTensor] })
    : undefined;
  let disposed = false;
  const run = async (input: Float32Array, n: number): Promise<Scores> => {
    if (disposed) throw new Error('classifier disposed');
    if (!Number.isInteger(n) || n < 1) throw new Error(`predict: n must be a positive integer, got ${n}`);
    if (input.length !== n * size * size * 3)
      throw new Error(
        `predict: input has ${input.length} floats, expected ${n}x${size}x${size}x3 = ${n * size * size * 3}`,
      );
    const outs = tf.tidy(() => {
      const y = (pooled ?? head).predict(backbone.predict(tf.tensor4d(input, [n, size, size, 3])) as tf.Tensor);
      return Array.isArray(y) ? y : [y];
    });
    try {
      const probabilities = new Float32Array(await outs[0].data());
      if (!outs[1]) return { probabilities };
      const features = new Float32Array(await outs[1].data());
      return { probabilities, features, ...(ood ? { ood: mahalanobis(ood, features, n) } : {}) };
    } finally {
      outs.forEach((t) => t.dispose());
    }
  };
  return {
    info,
    backend: backend.name,
    predict: async (input, n) => (await run(input, n)).probabilities,
    score: run,
    dispose(): void {
      if (disposed) return;
      disposed = true;
      backbone.dispose();
      head.dispose();
    },
  };
}
