import { floatValueInfo, GraphBuilder, valueInfo } from './graph-builder.js';
import type { KerasGraph, KerasLayer } from './keras-graph.js';
import { MAPPERS, UnsupportedLayerError, type MapContext } from './layer-mappers.js';
import { NCHW_TO_NHWC, NHWC_TO_NCHW } from './layout.js';
import type { Pads2d } from './padding.js';
import type { OnnxTypes } from './proto.js';

export const ONNX_OPSET = 13;
export const ONNX_IR_VERSION = 8;

export interface ExportOptions {
  /** Stored as metadata_props (string values). */
  metadata: Record<string, string>;
  graphName?: string;
  inputName?: string;
  outputName?: string;
  producerVersion?: string;
  /** More graph outputs: a layer's value (NHWC for rank 4), optionally cast to float16. */
  extraOutputs?: Array<{ layer: string; name: string; float16?: boolean }>;
}

/** Every layer the exporter cannot map, as an error naming them all; nothing when all are supported. */
export function checkSupported(g: KerasGraph): void {
  const bad = g.layers.slice(1).filter((l) => !MAPPERS[l.className]);
  if (bad.length) throw new UnsupportedLayerError(bad, 'no ONNX mapping for this layer class');
}

const dimsOf = (shape: (number | null)[]): (number | string)[] => shape.map((d) => (d === null ? 'N' : d));

/**
 * Converts a Keras layer graph into an ONNX model. The input keeps the Keras NHWC layout; a Transpose
 * to NCHW follows it and rank-4 tensors stay NCHW inside. BatchNormalization after a convolution and
 * ZeroPadding2D before a Conv2D / MaxPooling2D are folded into that node.
 */
export function exportKerasGraph(g: KerasGraph, opts: ExportOptions): OnnxTypes.IModelProto {
  const [input, ...rest] = g.layers;
  if (input?.className !== 'InputLayer') throw new Error('exportKerasGraph: the first layer must be the InputLayer');
  checkSupported(g);
  const byName = new Map(g.layers.map((l) => [l.name, l]));
  const users = new Map<string, KerasLayer[]>();
  for (const l of rest) for (const i of l.inputs) users.set(i, [...(users.get(i) ?? []), l]);
  const values = new Map<string, string>();
  const b = new GraphBuilder();
  const ctx: MapContext = {
    b,
    layer: (n) =>
      byName.get(n) ??
      (() => {
        throw new Error(`unknown layer ${n}`);
      })(),
    consumers: (n) => users.get(n) ?? [],
    value: (n) =>
      values.get(n) ??
      (() => {
        throw new Error(`layer ${n} has no ONNX value yet (graph not in topological order?)`);
      })(),
    setValue: (n, t) => void values.set(n, t),
    hasValue: (n) => values.has(n),
    foldedPads: new Map<string, Pads2d>(),
  };

  const inputName = b.unique(opts.inputName ?? input.name);
  const rank = input.outputShape.length;
  values.set(
    input.name,
    rank === 4
      ? b.node('Transpose', [inputName], `${input.name}_nchw`, [{ name: 'perm', ints: NHWC_TO_NCHW }])
      : inputName,
  );
  for (const l of rest) MAPPERS[l.className](l, ctx);

  const output = (layerName: string, name: string, float16 = false): OnnxTypes.IValueInfoProto => {
    const layer = byName.get(layerName);
    if (!layer) throw new Error(`output layer ${layerName} is not in the graph`);
    let y = ctx.value(layer.name);
    if (layer.outputShape.length === 4)
      y = b.node('Transpose', [y], `${layer.name}_nhwc`, [{ name: 'perm', ints: NCHW_TO_NHWC }]);
    if (float16) y = b.node('Cast', [y], `${layer.name}_f16`, [{ name: 'to', int: 10 }]); // TensorProto FLOAT16
    const outName = b.unique(name);
    b.nodes.push({ opType: 'Identity', input: [y], output: [outName], name: outName });
    return valueInfo(outName, dimsOf(layer.outputShape), float16);
  };
  const outputs = [
    output(g.output, opts.outputName ?? g.output),
    ...(opts.extraOutputs ?? []).map((o) => output(o.layer, o.name, o.float16)),
  ];

  return {
    irVersion: ONNX_IR_VERSION,
    opsetImport: [{ domain: '', version: ONNX_OPSET }],
    producerName: 'cxr-onnx-exporter',
    producerVersion: opts.producerVersion ?? '1',
    graph: {
      name: opts.graphName ?? 'graph',
      node: b.nodes,
      initializer: b.initializers,
      input: [floatValueInfo(inputName, dimsOf(input.outputShape))],
      output: outputs,
    },
    metadataProps: Object.entries(opts.metadata).map(([key, value]) => ({ key, value })),
  };
}
