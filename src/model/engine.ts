import type { S3Client } from '@aws-sdk/client-s3';
import type { Logger } from '../shared/logger.js';
import { loadClassifier, type PneumoniaClassifier } from './classifier.js';
import { importOrt, type OrtModule } from './onnx/ort-session.js';

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
}

/** Loads the classifier on the chosen engine; 'auto' takes ONNX Runtime when onnxruntime-node loads, else TF.js. */
export async function loadEngine(opts: LoadEngineOptions): Promise<PneumoniaClassifier> {
  const { engine, logger } = opts;
  let ort: OrtModule | undefined;
  if (engine !== 'tfjs') {
    try {
      ort = await (opts.importOrt ?? importOrt)();
    } catch (err) {
      if (engine !== 'auto')
        throw new Error(`engine ${engine}: onnxruntime-node does not load: ${(err as Error).message}`, { cause: err });
      logger?.info({ err: (err as Error).message }, 'engine auto: onnxruntime-node unavailable');
    }
  }
  const chosen = ort ? 'onnx' : 'tfjs';
  logger?.info({ requested: engine, engine: chosen }, 'inference engine selected');
  if (!ort) return loadClassifier({ modelUri: opts.modelUri, s3: opts.s3, logger });
  const { loadOnnxClassifier } = await import('./onnx/classifier.js');
  const { UnsupportedLayerError } = await import('./onnx/layer-mappers.js');
  try {
    return await loadOnnxClassifier({
      modelUri: opts.modelUri,
      s3: opts.s3,
      logger,
      threads: opts.threads,
      cacheDir: opts.cacheDir,
      ort,
      int8: engine === 'onnx-int8',
    });
  } catch (err) {
    // 'auto' still scores a model the exporter cannot express; 'onnx' says why it cannot.
    if (engine !== 'auto' || !(err instanceof UnsupportedLayerError)) throw err;
    logger?.warn({ err: err.message }, 'engine auto: model cannot be exported to ONNX; using TF.js');
    return loadClassifier({ modelUri: opts.modelUri, s3: opts.s3, logger });
  }
}
