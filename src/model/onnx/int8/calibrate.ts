// Runs the FP32 graph over calibration images with every tensor to quantise as an extra output, and
// collects their histograms (two passes: the largest |x| first, then the histograms over that range).
import pLimit from 'p-limit';
import os from 'node:os';
import { readFile } from 'node:fs/promises';
import type * as Ort from 'onnxruntime-node';
import { decodeToRgb } from '../../../shared/image/decode.js';
import type { Logger } from '../../../shared/logger.js';
import { caffePreprocess } from '../../preprocess.js';
import { onnx } from '../proto.js';
import type { OrtModule } from '../ort-session.js';
import { encodeModel } from '../writer.js';
import { maxAbsOf, TensorHistogram } from './ranges.js';

export const INPUT_SIZE = 224;
const PX = INPUT_SIZE * INPUT_SIZE * 3;

/** Decodes image files to caffe-preprocessed NHWC floats, as a worker would (sharp, 224x224 fill). */
export async function loadInputs(paths: readonly string[]): Promise<Float32Array> {
  const out = new Float32Array(paths.length * PX);
  const lim = pLimit(os.availableParallelism());
  await Promise.all(
    paths.map((p, i) =>
      lim(async () => {
        const { rgb } = await decodeToRgb(new Uint8Array(await readFile(p)), INPUT_SIZE);
        caffePreprocess(rgb, out, i * PX);
      }),
    ),
  );
  return out;
}

async function session(ort: OrtModule, bytes: Uint8Array, threads: number): Promise<Ort.InferenceSession> {
  return ort.InferenceSession.create(bytes, {
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: 'all',
    executionProviders: ['cpu'],
  });
}

async function forEachBatch(
  s: Ort.InferenceSession,
  ort: OrtModule,
  inputs: Float32Array,
  batch: number,
  fetch: string[],
  each: (out: Ort.InferenceSession.OnnxValueMapType) => void,
): Promise<void> {
  const n = inputs.length / PX;
  for (let i = 0; i < n; i += batch) {
    const m = Math.min(batch, n - i);
    const x = new ort.Tensor('float32', inputs.subarray(i * PX, (i + m) * PX), [m, INPUT_SIZE, INPUT_SIZE, 3]);
    const out = await s.run({ [s.inputNames[0]]: x }, fetch);
    try {
      each(out);
    } finally {
      Object.values(out).forEach((t) => t.dispose());
    }
  }
}

/** Histograms of `tensors` of the FP32 model over the inputs. */
export async function collectHistograms(
  ort: OrtModule,
  fp32: Uint8Array,
  tensors: readonly string[],
  inputs: Float32Array,
  opts: { threads: number; batch?: number; logger?: Logger },
): Promise<Map<string, TensorHistogram>> {
  const m = onnx.ModelProto.decode(fp32);
  const have = new Set(m.graph!.output!.map((o) => o.name));
  for (const t of tensors)
    if (!have.has(t))
      m.graph!.output!.push(
        onnx.ValueInfoProto.create({ name: t, type: { tensorType: { elemType: onnx.TensorProto.DataType.FLOAT } } }),
      );
  const s = await session(ort, encodeModel(m), opts.threads);
  const batch = opts.batch ?? 8;
  try {
    const maxAbs = new Map<string, number>(tensors.map((t) => [t, 0]));
    const t0 = Date.now();
    await forEachBatch(s, ort, inputs, batch, [...tensors], (out) => {
      for (const t of tensors) maxAbs.set(t, Math.max(maxAbs.get(t)!, maxAbsOf(out[t].data as Float32Array)));
    });
    opts.logger?.info(
      { tensors: tensors.length, images: inputs.length / PX, ms: Date.now() - t0 },
      'calibration pass 1 (ranges) done',
    );
    const hists = new Map(tensors.map((t) => [t, new TensorHistogram(maxAbs.get(t)!)]));
    await forEachBatch(s, ort, inputs, batch, [...tensors], (out) => {
      for (const t of tensors) hists.get(t)!.add(out[t].data as Float32Array);
    });
    opts.logger?.info({ ms: Date.now() - t0 }, 'calibration pass 2 (histograms) done');
    return hists;
  } finally {
    await s.release();
  }
}

/** P(class 1) of every input under a model (its first output). */
export async function scoreInputs(
  ort: OrtModule,
  model: Uint8Array,
  inputs: Float32Array,
  opts: { threads: number; batch?: number },
): Promise<Float32Array> {
  const s = await session(ort, model, opts.threads);
  try {
    const scores = new Float32Array(inputs.length / PX);
    let at = 0;
    await forEachBatch(s, ort, inputs, opts.batch ?? 16, [s.outputNames[0]], (out) => {
      const p = out[s.outputNames[0]].data as Float32Array;
      scores.set(p, at);
      at += p.length;
    });
    return scores;
  } finally {
    await s.release();
  }
}
