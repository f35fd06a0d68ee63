import type { S3Client } from '@aws-sdk/client-s3';
import type { Logger } from '../../shared/logger.js';
import type { ModelInfo, PneumoniaClassifier, Scores } from '../classifier.js';
import { OOD_INPUT, OOD_OUTPUT, oodGraph } from '../ood/ood-graph.js';
import { loadOodModel } from '../ood/stats-file.js';
import { FEATURES_OUTPUT } from './export-model.js';
import { ensureOnnxModel } from './onnx-file.js';
import { createSession, importOrt, sessionMemory, threadsPerProcess, type OrtModule } from './ort-session.js';

export interface OnnxClassifierOptions {
  modelUri?: string;
  s3?: S3Client;
  logger?: Logger;
  /** intraOpNumThreads; default threadsPerProcess() (cores / CXR_WORKER_CONCURRENCY). */
  threads?: number;
  ort?: OrtModule;
  cacheDir?: string;
  /** The INT8 (QDQ) model instead of the FP32 export. */
  int8?: boolean;
}

/** PneumoniaClassifier on onnxruntime-node, from the model's ONNX export (checked against its TF.js id). */
export async function loadOnnxClassifier(opts: OnnxClassifierOptions = {}): Promise<PneumoniaClassifier> {
  const started = Date.now();
  const ort = opts.ort ?? (await importOrt());
  const file = opts.int8
    ? await (await import('./int8/int8-model.js')).ensureInt8Model(opts)
    : await ensureOnnxModel(opts);
  const { session, backend, threads } = await createSession(
    ort,
    file.bytes,
    opts.threads ?? threadsPerProcess(),
    opts.logger,
    undefined,
    sessionMemory(process.env, opts.int8 === true),
  );
  const m = file.model.meta;
  let ood = await loadOodModel(file.model.dir, opts.logger);
  const [inputName] = session.inputNames;
  const [outputName] = session.outputNames;
  const featuresName = session.outputNames.includes(FEATURES_OUTPUT) ? FEATURES_OUTPUT : undefined;
  if (ood && !featuresName) {
    opts.logger?.warn(
      { onnx: file.path },
      `no '${FEATURES_OUTPUT}' output in this ONNX file: predictions carry no OOD score until it is re-exported (cxr models export-onnx)`,
    );
    ood = undefined;
  }
  // The OOD projection runs as its own small ORT graph on the pooled features (a batched GEMM, not a JS loop).
  const oodSession = ood
    ? (await createSession(ort, oodGraph(ood), opts.threads ?? threadsPerProcess(), opts.logger, false)).session
    : undefined;
  const info: ModelInfo = {
    id: file.model.id,
    name: m.name,
    version: m.version,
    threshold: m.threshold,
    classNames: m.classNames,
    inputSize: m.inputSize,
    ...(ood ? { oodThreshold: ood.meta.threshold } : {}),
  };
  const size = info.inputSize;
  opts.logger?.info(
    {
      model: info,
      backend,
      precision: opts.int8 ? 'int8' : 'fp32',
      threads,
      onnx: file.path,
      source: file.source,
      loadMs: Date.now() - started,
    },
    'onnx classifier loaded',
  );
  let disposed = false;
  const run = async (input: Float32Array, n: number): Promise<Scores> => {
    if (disposed) throw new Error('classifier disposed');
    if (!Number.isInteger(n) || n < 1) throw new Error(`predict: n must be a positive integer, got ${n}`);
    if (input.length !== n * size * size * 3)
      throw new Error(
        `predict: input has ${input.length} floats, expected ${n}x${size}x${size}x3 = ${n * size * size * 3}`,
      );
    const out = await session.run({ [inputName]: new ort.Tensor('float32', input, [n, size, size, 3]) });
    try {
      const probabilities = Float32Array.from(out[outputName].data as Float32Array);
      if (!featuresName) return { probabilities };
      const features = Float32Array.from(out[featuresName].data as Float32Array);
      if (!ood || !oodSession) return { probabilities, features };
      const dist = (await oodSession.run({ [OOD_INPUT]: new ort.Tensor('float32', features, [n, ood.dim]) }))[
        OOD_OUTPUT
      ];
      try {
        return { probabilities, features, ood: Float32Array.from(dist.data as Float32Array) };
      } finally {
        dist.dispose();
      }
    } finally {
      Object.values(out).forEach((t) => t.dispose());
    }
  };
  return {
    info,
    backend: opts.int8 ? `${backend}-int8` : backend,
    predict: async (input, n) => (await run(input, n)).probabilities,
    score: run,
    dispose(): void {
      if (disposed) return;
      disposed = true;
      void session.release();
      void oodSession?.release();
    },
  };
}
