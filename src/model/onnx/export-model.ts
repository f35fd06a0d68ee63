import type { Logger } from '../../shared/logger.js';
import { exportKerasGraph } from './export-graph.js';
import { loadKerasGraph, onnxMetadata } from './source-model.js';
import type { VerifiedModel } from '../verify-model.js';
import { encodeModel } from './writer.js';

/** Exports a verified TF.js model folder (ResNet50 backbone + head) to ONNX protobuf bytes. */
export async function exportModelToOnnx(model: VerifiedModel, logger?: Logger): Promise<Uint8Array> {
  const t0 = Date.now();
  const graph = await loadKerasGraph(model, logger);
  const proto = exportKerasGraph(graph, { metadata: onnxMetadata(model), graphName: model.meta.name, inputName: 'input', outputName: 'probability' });
  const bytes = encodeModel(proto);
  logger?.info({ modelId: model.id, layers: graph.layers.length, nodes: proto.graph?.node?.length, bytes: bytes.byteLength, ms: Date.now() - t0 }, 'exported model to ONNX');
  return bytes;
}
