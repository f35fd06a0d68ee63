import type { Logger } from '../../shared/logger.js';
import { exportKerasGraph } from './export-graph.js';
import type { KerasGraph } from './keras-graph.js';
import { loadKerasGraph, onnxMetadata } from './source-model.js';
import type { VerifiedModel } from '../verify-model.js';
import { encodeModel } from './writer.js';

/** The second output: the pooled backbone features the OOD distance is measured on. */
export const FEATURES_OUTPUT = 'features';

/** The last global pooling layer: its output is the pooled feature vector the head's Dense reads. */
export function pooledFeatureLayer(g: KerasGraph): string | undefined {
  return g.layers.filter((l) => l.className === 'GlobalAveragePooling2D').at(-1)?.name;
}

/** Exports a verified TF.js model folder (ResNet50 backbone + head) to ONNX protobuf bytes, with its pooled features as a second output. */
export async function exportModelToOnnx(model: VerifiedModel, logger?: Logger): Promise<Uint8Array> {
  const t0 = Date.now();
  const graph = await loadKerasGraph(model, logger);
  const pool = pooledFeatureLayer(graph);
  const extraOutputs = pool ? [{ layer: pool, name: FEATURES_OUTPUT }] : [];
  const proto = exportKerasGraph(graph, {
    metadata: onnxMetadata(model),
    graphName: model.meta.name,
    inputName: 'input',
    outputName: 'probability',
    extraOutputs,
  });
  const bytes = encodeModel(proto);
  logger?.info(
    {
      modelId: model.id,
      layers: graph.layers.length,
      nodes: proto.graph?.node?.length,
      bytes: bytes.byteLength,
      ms: Date.now() - t0,
    },
    'exported model to ONNX',
  );
  return bytes;
}
