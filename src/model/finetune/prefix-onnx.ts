import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from '../../shared/logger.js';
import { loadBackbone } from '../backbone.js';
import { exportKerasGraph } from '../onnx/export-graph.js';
import { onceAcrossProcesses } from '../onnx/file-lock.js';
import { kerasGraphOf } from '../onnx/keras-graph.js';
import { defaultOnnxCache } from '../onnx/onnx-file.js';
import { encodeModel, writeFileAtomic } from '../onnx/writer.js';
import type { PrefixLayer } from './activations.js';

/**
 * The frozen ImageNet backbone as one ONNX graph with two outputs: `features` (the 2048-d GAP vector,
 * float32) and `prefix_out` (the prefix layer's output, NHWC, float16). Exported once per backbone
 * and layer into the ONNX cache.
 */
export async function prefixOnnx(
  backboneDir: string,
  backboneHash: string,
  layer: PrefixLayer,
  logger?: Logger,
  cacheDir = defaultOnnxCache(),
): Promise<Uint8Array> {
  const file = join(cacheDir, `prefix-${backboneHash.slice(0, 16)}-${layer}.onnx`);
  if (!existsSync(file)) {
    await onceAcrossProcesses(file, async () => {
      const t0 = Date.now();
      const model = await loadBackbone(backboneDir, 'avg_pool');
      try {
        const proto = exportKerasGraph(kerasGraphOf(model), {
          metadata: { backbone: backboneHash, layer },
          graphName: `resnet50-prefix-${layer}`,
          inputName: 'input',
          outputName: 'features',
          extraOutputs: [{ layer, name: 'prefix_out', float16: true }],
        });
        await writeFileAtomic(file, encodeModel(proto));
      } finally {
        model.dispose();
      }
      logger?.info({ file, ms: Date.now() - t0 }, 'exported the frozen prefix to ONNX');
    });
  }
  return readFile(file);
}
