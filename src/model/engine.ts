import type { S3Client } from '@aws-sdk/client-s3';
import type { Logger } from '../shared/logger.js';
import { loadClassifier, type PneumoniaClassifier } from './classifier.js';
import { localModelDir } from './io/s3-io.js';
import { cudaProviderInstalled, importOrt, type OrtModule } from './onnx/ort-session.js';

/** 'onnx' is the FP32 export; 'onnx-int8' its static INT8 (QDQ) quantisation, from int8-calibration.json beside the model. */
export type EngineChoice = 'tfjs' | 'onnx' | 'onnx-int8' | 'auto';
export const ENGINES: readonly EngineChoice[] = ['tfjs', 'onnx', 'onnx-int8', 'auto'];

/** Validates CXR_ENGINE / --engine; unset means 'auto'. */
export function parseEngine(value: string | undefined): EngineChoice {
  const v = (value ?? '').trim().toLowerCase() || 'auto';
  if (!(ENGINES as readonly string[]).includes(v))
    throw new Error(`engine '${value}' is not one of ${ENGINES.join(', ')}`);
  return v as EngineChoice;
}

export interface LoadEngineOptions {
  engine: EngineChoice;
  modelUri?: string;
  s3?: S3Client;
  logger?: Logger;
  /** ONNX intra-op threads (default: cores / CXR_WORKER_CONCURRENCY). */
  threads?: number;
  /** Where exported / downloaded ONNX files are kept (default models/.cache/onnx). */
  cacheDir?: string;
  /** For tests: how onnxruntime-node is imported. */
  importOrt?: () => Promise<OrtModule>;
  /** For tests: whether the CUDA execution provider is installed (default: looked up beside onnxruntime-node). */
  cuda?: boolean;
}

export type OnnxPrecision = { engine: 'onnx' | 'onnx-int8'; reason: string };

/**
 * What 'auto' runs on ONNX Runtime: INT8 on a CPU host where the model's INT8 parity was measured and held,
 * else FP32. A host with the CUDA provider keeps FP32: the QDQ file is a CPU optimisation (on CUDA, ORT runs
 * Q/DQ pairs around FP32 kernels, and INT8 tensor cores need TensorRT; see docs/benchmarks.md).
 */
export async function autoOnnxPrecision(
  opts: Pick<LoadEngineOptions, 'modelUri' | 's3' | 'cuda'> = {},
): Promise<OnnxPrecision> {
  if (opts.cuda ?? cudaProviderInstalled())
    return { engine: 'onnx', reason: 'CUDA execution provider installed: the GPU runs the FP32 model' };
  const { defaultModelDir } = await import('./classifier.js');
  const { int8Readiness } = await import('./onnx/int8/int8-model.js');
  const r = await int8Readiness(await localModelDir(opts.modelUri ?? defaultModelDir(), opts.s3));
  return r.ready
    ? { engine: 'onnx-int8', reason: `CPU host and ${r.reason}` }
    : { engine: 'onnx', reason: `INT8 not used: ${r.reason}` };
}

/**
 * Loads the classifier on the chosen engine. 'auto' takes ONNX Runtime when onnxruntime-node loads (INT8 or FP32
 * as autoOnnxPrecision says), else TF.js; 'onnx' is always FP32, 'onnx-int8' always INT8.
 */
export async function loadEngine(opts: LoadEngineOptions): Promise<PneumoniaClassifier> {
  const { engine, logger } = opts;
  let ort: OrtModule | undefined;
  let ortError: string | undefined;
  if (engine !== 'tfjs') {
    try {
      ort = await (opts.importOrt ?? importOrt)();
    } catch (err) {
      if (engine !== 'auto')
        throw new Error(`engine ${engine}: onnxruntime-node does not load: ${(err as Error).message}`, { cause: err });
      ortError = (err as Error).message;
    }
  }
  const chosen: OnnxPrecision | { engine: 'tfjs'; reason: string } = !ort
    ? { engine: 'tfjs', reason: engine === 'tfjs' ? 'requested' : `onnxruntime-node does not load: ${ortError}` }
    : engine === 'auto'
      ? await autoOnnxPrecision(opts)
      : { engine: engine as OnnxPrecision['engine'], reason: 'requested' };
  logger?.info({ requested: engine, engine: chosen.engine, reason: chosen.reason }, 'inference engine selected');
  if (!ort) return loadClassifier({ modelUri: opts.modelUri, s3: opts.s3, logger });
  const { loadOnnxClassifier } = await import('./onnx/classifier.js');
  const { UnsupportedLayerError } = await import('./onnx/layer-mappers.js');
  const load = (int8: boolean) =>
    loadOnnxClassifier({
      modelUri: opts.modelUri,
      s3: opts.s3,
      logger,
      threads: opts.threads,
      cacheDir: opts.cacheDir,
      ort,
      int8,
    });
  try {
    if (engine === 'auto' && chosen.engine === 'onnx-int8')
      // 'auto' still scores when the INT8 file cannot be built here: on FP32, saying why.
      return await load(true).catch((err: unknown) => {
        if (err instanceof UnsupportedLayerError) throw err;
        logger?.warn({ err: (err as Error).message }, 'engine auto: INT8 model could not be loaded; using FP32 ONNX');
        return load(false);
      });
    return await load(chosen.engine === 'onnx-int8');
  } catch (err) {
    // 'auto' still scores a model the exporter cannot express; 'onnx' says why it cannot.
    if (engine !== 'auto' || !(err instanceof UnsupportedLayerError)) throw err;
    logger?.warn({ err: err.message }, 'engine auto: model cannot be exported to ONNX; using TF.js');
    return loadClassifier({ modelUri: opts.modelUri, s3: opts.s3, logger });
  }
}
