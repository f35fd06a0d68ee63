import type * as tf from '@tensorflow/tfjs';

/** A Keras layer as the exporter sees it: class, config, input layer names, weights by short name. */
export interface KerasLayer {
  name: string;
  className: string;
  config: Record<string, unknown>;
  /** Names of the layers whose (single) output feeds this one, in order. */
  inputs: string[];
  /** Output shape with the batch dimension as null, e.g. [null, 56, 56, 256]. */
  outputShape: (number | null)[];
  /** 'kernel', 'bias', 'gamma', 'beta', 'moving_mean', 'moving_variance', ... */
  weights: Map<string, { shape: number[]; data: Float32Array }>;
}

/** A single-input, single-output layer graph in topological order; the first layer is the InputLayer. */
export interface KerasGraph {
  layers: KerasLayer[];
  output: string;
}

type InboundNode = Array<[string, number, number, unknown]>;
interface LayerConfig {
  name: string;
  className: string;
  config: Record<string, unknown>;
  inboundNodes?: InboundNode[];
}

const NESTED = new Set(['Model', 'Functional', 'Sequential']);

function layerWeights(layer: tf.layers.Layer): KerasLayer['weights'] {
  const out: KerasLayer['weights'] = new Map();
  for (const w of layer.weights) {
    const short = w.originalName.split('/').pop()!;
    out.set(short, { shape: [...w.shape] as number[], data: Float32Array.from(w.read().dataSync() as Float32Array) });
  }
  return out;
}

function shapeOf(layer: tf.layers.Layer): (number | null)[] {
  const s = layer.outputShape;
  if (Array.isArray(s[0]))
    throw new Error(
      `layer ${layer.name} (${layer.getClassName()}) has several outputs; the ONNX exporter handles single-output layers only`,
    );
  return s as (number | null)[];
}

function describe(layer: tf.layers.Layer, inputs: string[]): KerasLayer {
  return {
    name: layer.name,
    className: layer.getClassName(),
    config: layer.getConfig() as Record<string, unknown>,
    inputs,
    outputShape: shapeOf(layer),
    // Weights of a nested model are not read: it is refused later by class name.
    weights: NESTED.has(layer.getClassName()) ? new Map() : layerWeights(layer),
  };
}

/** Reads a tf.LayersModel (functional or Sequential, one input and one output) into a KerasGraph. */
export function kerasGraphOf(model: tf.LayersModel): KerasGraph {
  if (model.inputs.length !== 1 || model.outputs.length !== 1) {
    throw new Error(
      `model ${model.name}: the ONNX exporter handles one input and one output (has ${model.inputs.length} and ${model.outputs.length})`,
    );
  }
  const cfg = model.getConfig() as unknown as { layers: LayerConfig[] };
  const functional = cfg.layers.some((l) => l.className === 'InputLayer');
  if (functional) {
    const layers = cfg.layers.map((lc) => {
      const nodes = lc.inboundNodes ?? [];
      if (nodes.length > 1)
        throw new Error(
          `layer ${lc.name} (${lc.className}) is shared (called ${nodes.length} times); the ONNX exporter cannot map shared layers`,
        );
      return describe(
        model.getLayer(lc.name),
        (nodes[0] ?? []).map(([name]) => name),
      );
    });
    const out = model.outputs[0].sourceLayer.name;
    return { layers, output: out };
  }
  // Sequential: an implicit input layer, then a chain.
  const inShape = model.inputs[0].shape as (number | null)[];
  const input: KerasLayer = {
    name: model.inputs[0].name.replace(/:\d+$/, ''),
    className: 'InputLayer',
    config: { batchInputShape: inShape },
    inputs: [],
    outputShape: inShape,
    weights: new Map(),
  };
  const layers = [input];
  for (const l of model.layers) layers.push(describe(l, [layers[layers.length - 1].name]));
  return { layers, output: layers[layers.length - 1].name };
}

/** Feeds `first`'s output into `second` (whose InputLayer is dropped): backbone + head as one graph. */
export function chainGraphs(first: KerasGraph, second: KerasGraph): KerasGraph {
  const [input, ...rest] = second.layers;
  const taken = new Set(first.layers.map((l) => l.name));
  const clash = rest.find((l) => taken.has(l.name));
  if (clash) throw new Error(`cannot chain graphs: layer name ${clash.name} appears in both`);
  const layers = rest.map((l) => ({ ...l, inputs: l.inputs.map((i) => (i === input.name ? first.output : i)) }));
  return { layers: [...first.layers, ...layers], output: second.output };
}
