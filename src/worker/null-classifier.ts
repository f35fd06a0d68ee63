import type { S3Client } from '@aws-sdk/client-s3';
import { defaultModelDir, type PneumoniaClassifier } from '../model/classifier.js';
import { localModelDir } from '../model/io/s3-io.js';
import { readMetadata } from '../model/metadata.js';

/**
 * The 'null' engine, for tests and benchmarks whose subject is the orchestration, not the model: it reads
 * the model folder's metadata (so a missing model fails as it would on a real engine) and answers
 * CXR_NULL_PROBABILITY (default 0.5) for every image after CXR_NULL_DELAY_MS (default 0) per batch.
 */
export async function loadNullClassifier(opts: {
  modelUri?: string;
  s3?: S3Client;
  env?: NodeJS.ProcessEnv;
}): Promise<PneumoniaClassifier> {
  const env = opts.env ?? process.env;
  const meta = await readMetadata(await localModelDir(opts.modelUri ?? defaultModelDir(), opts.s3));
  const probability = Number(env.CXR_NULL_PROBABILITY ?? 0.5);
  const delayMs = Number(env.CXR_NULL_DELAY_MS ?? 0);
  if (!(probability >= 0 && probability <= 1))
    throw new Error(`CXR_NULL_PROBABILITY must be within [0, 1], got ${env.CXR_NULL_PROBABILITY}`);
  return {
    info: {
      id: meta.id,
      name: meta.name,
      version: meta.version,
      threshold: meta.threshold,
      classNames: meta.classNames,
      inputSize: meta.inputSize,
    },
    backend: 'null',
    async predict(_input: Float32Array, n: number): Promise<Float32Array> {
      if (delayMs > 0) await new Promise((r) => setTimeout(r, delayMs));
      return new Float32Array(n).fill(probability);
    },
    dispose() {},
  };
}
