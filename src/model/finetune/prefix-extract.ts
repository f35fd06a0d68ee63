import { readFile } from 'node:fs/promises';
import type { Logger } from '../../shared/logger.js';
import { decodeImage } from '../../shared/image/decode-input.js';
import { createSession, importOrt, threadsPerProcess } from '../onnx/ort-session.js';
import { caffePreprocess } from '../preprocess.js';
import { variantRgb } from '../train/variants.js';
import { FEATURE_DIM, featurePath, hasFeature, writeFeature, type FeatureJob } from '../train/features.js';
import { activationLength, activationPath, hasActivation, writeActivation, type PrefixLayer } from './activations.js';
import { prefixOnnx } from './prefix-onnx.js';

export interface PrefixExtractOptions {
  backboneDir: string;
  backboneHash: string;
  /** GAP feature cache (as features.ts) and activation cache (as activations.ts). */
  featureRoot: string;
  activationRoot: string;
  layer: PrefixLayer;
  /** ONNX Runtime intra-op threads; default all cores. */
  threads?: number;
  batchSize?: number;
  logger?: Logger;
}

export interface PrefixExtractResult {
  computed: number;
  seconds: number;
  imagesPerSec: number;
}

const SIZE = 224;

/**
 * Runs the frozen prefix on ONNX Runtime for every job whose activation or GAP feature is not cached:
 * decode, image variant (variants.ts: seeded by image sha256 + copy, as the caches), caffe preprocessing,
 * then one batch through the backbone. Writes the fp16 activation and the float32 GAP feature.
 */
export async function extractPrefix(
  jobs: readonly FeatureJob[],
  o: PrefixExtractOptions,
): Promise<PrefixExtractResult> {
  const paths = (j: FeatureJob) => ({
    act: activationPath(o.activationRoot, o.backboneHash, o.layer, j.sha256, j.copy),
    feat: featurePath(o.featureRoot, o.backboneHash, j.sha256, j.copy),
  });
  const todo: FeatureJob[] = [];
  const seen = new Set<string>();
  for (const j of jobs) {
    const id = `${j.sha256}-${j.copy}`;
    if (seen.has(id)) continue;
    seen.add(id);
    const p = paths(j);
    if (!(await hasActivation(p.act, o.layer)) || !(await hasFeature(p.feat))) todo.push(j);
  }
  o.logger?.info({ total: seen.size, todo: todo.length, layer: o.layer }, 'prefix activations');
  if (todo.length === 0) return { computed: 0, seconds: 0, imagesPerSec: 0 };
  const started = Date.now();
  const ort = await importOrt();
  const { session } = await createSession(
    ort,
    await prefixOnnx(o.backboneDir, o.backboneHash, o.layer, o.logger),
    o.threads ?? threadsPerProcess(),
    o.logger,
    false,
  );
  const bs = o.batchSize ?? 16;
  const px = SIZE * SIZE * 3;
  const actLen = activationLength(o.layer);
  const prepare = async (batch: FeatureJob[]): Promise<Float32Array> => {
    const input = new Float32Array(batch.length * px);
    await Promise.all(
      batch.map(async (j, k) => {
        const { rgb } = await decodeImage(await readFile(j.path), SIZE);
        caffePreprocess(await variantRgb(rgb, SIZE, j.sha256, j.copy), input, k * px);
      }),
    );
    return input;
  };
  let lastLog = Date.now();
  try {
    let next = prepare(todo.slice(0, bs));
    for (let i = 0; i < todo.length; i += bs) {
      const batch = todo.slice(i, i + bs);
      const input = await next;
      if (i + bs < todo.length) next = prepare(todo.slice(i + bs, i + 2 * bs)); // decode overlaps inference
      const out = await session.run({ input: new ort.Tensor('float32', input, [batch.length, SIZE, SIZE, 3]) });
      const feats = out.features.data as Float32Array;
      const raw = out.prefix_out.data as unknown as ArrayBufferView; // Uint16Array, or Float16Array where the runtime has it
      const acts = new Uint16Array(raw.buffer, raw.byteOffset, raw.byteLength / 2);
      await Promise.all(
        batch.map(async (j, k) => {
          const p = paths(j);
          await writeFeature(p.feat, feats.slice(k * FEATURE_DIM, (k + 1) * FEATURE_DIM));
          await writeActivation(p.act, acts.slice(k * actLen, (k + 1) * actLen));
        }),
      );
      out.features.dispose();
      out.prefix_out.dispose();
      if (Date.now() - lastLog > 30_000) {
        lastLog = Date.now();
        const done = Math.min(i + bs, todo.length);
        o.logger?.info(
          { done, of: todo.length, imgPerSec: +(done / ((Date.now() - started) / 1000)).toFixed(2) },
          'extracting prefix activations',
        );
      }
    }
  } finally {
    await session.release();
  }
  const seconds = (Date.now() - started) / 1000;
  return { computed: todo.length, seconds, imagesPerSec: todo.length / seconds };
}
