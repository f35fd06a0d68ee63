import * as tf from '@tensorflow/tfjs';
import type { Logger } from '../../shared/logger.js';
import { ensureBackend } from '../backend.js';
import { ensureBackbone } from '../backbone-fetch.js';
import { loadBackbone } from '../backbone.js';
import { fsIO } from '../io/fs-io.js';
import type { VerifiedModel } from '../verify-model.js';
import type { ResNetTop } from '../resnet50.js';
import { chainGraphs, kerasGraphOf, type KerasGraph } from './keras-graph.js';

/** Loads backbone + head with TF.js and reads them into one Keras graph (backbone output -> head). */
export async function loadKerasGraph(model: VerifiedModel, logger?: Logger): Promise<KerasGraph> {
  // The backend scoring would use (wasm here), not TF.js's default 'cpu', which prints its "install our
  // node backend" banner on first use.
  await ensureBackend(logger);
  const top = (model.meta.backbone.featureLayer || 'activation_48') as ResNetTop;
  const [backbone, head] = await Promise.all([
    ensureBackbone(undefined, { logger }).then((d) => loadBackbone(d, top)),
    tf.loadLayersModel(fsIO(model.dir)),
  ]);
  try {
    return chainGraphs(kerasGraphOf(backbone), kerasGraphOf(head));
  } finally {
    backbone.dispose();
    head.dispose();
  }
}

/** What an ONNX file carries about the model it was exported from (metadata_props). */
export function onnxMetadata(model: VerifiedModel): Record<string, string> {
  const m = model.meta;
  return {
    modelId: model.id,
    name: m.name,
    version: m.version,
    threshold: String(m.threshold),
    classNames: JSON.stringify(m.classNames),
    inputSize: String(m.inputSize),
    inputLayout: 'NHWC float32, caffe-preprocessed',
    output: `P(${m.classNames[1]})`,
  };
}
