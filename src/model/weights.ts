import * as tf from '@tensorflow/tfjs';

/** Keras weight key for a variable: "<layer name>/<kernel|bias|gamma|...>". */
function weightKey(layerName: string, variable: tf.LayerVariable): string {
  const short = variable.originalName.split('/').pop() ?? variable.originalName;
  return `${layerName}/${short}`;
}

export interface SetWeightsResult {
  assigned: number;
  unused: string[];
}

/**
 * Assigns weights to every layer of `model` by Keras name. Throws listing every missing weight or
 * shape mismatch. Weights in the map that the model does not use are returned (e.g. fc1000 when cut).
 */
export function setWeightsByName(model: tf.LayersModel, weights: tf.NamedTensorMap): SetWeightsResult {
  const problems: string[] = [];
  const pending: Array<[tf.layers.Layer, tf.Tensor[]]> = [];
  const used = new Set<string>();
  for (const layer of model.layers) {
    if (layer.weights.length === 0) continue;
    const values: tf.Tensor[] = [];
    for (const v of layer.weights) {
      const key = weightKey(layer.name, v);
      const t = weights[key];
      if (!t) {
        problems.push(`missing weight ${key} (shape [${v.shape}])`);
        continue;
      }
      if (!tf.util.arraysEqual(t.shape, v.shape as number[])) {
        problems.push(`weight ${key} has shape [${t.shape}], layer expects [${v.shape}]`);
        continue;
      }
      used.add(key);
      values.push(t);
    }
    pending.push([layer, values]);
  }
  if (problems.length > 0) throw new Error(`cannot load weights into ${model.name}: ${problems.join('; ')}`);
  for (const [layer, values] of pending) layer.setWeights(values);
  return { assigned: used.size, unused: Object.keys(weights).filter((k) => !used.has(k)) };
}

/** Decodes an artifacts' weight buffer into named tensors (caller disposes). */
export function decodeArtifactWeights(artifacts: tf.io.ModelArtifacts): tf.NamedTensorMap {
  if (!artifacts.weightSpecs || !artifacts.weightData) throw new Error('model artifacts carry no weights');
  const data = artifacts.weightData;
  const buf = Array.isArray(data) ? tf.io.concatenateArrayBuffers(data) : data;
  return tf.io.decodeWeights(buf, artifacts.weightSpecs);
}
