import { foldBatchNorm } from './bn-fold.js';
import type { GraphBuilder } from './graph-builder.js';
import type { KerasLayer } from './keras-graph.js';
import { hwioToOihw, NCHW_TO_NHWC } from './layout.js';
import { addPads, NO_PADS, windowPads, zeroPaddingPads, type Pads2d } from './padding.js';

/** State shared by the mappers while one graph is exported. Rank-4 values are NCHW inside the graph. */
export interface MapContext {
  b: GraphBuilder;
  layer(name: string): KerasLayer;
  consumers(name: string): KerasLayer[];
  /** ONNX tensor holding a layer's output. */
  value(layerName: string): string;
  setValue(layerName: string, tensor: string): void;
  hasValue(layerName: string): boolean;
  /** ZeroPadding2D pads folded into the consuming Conv2D / MaxPooling2D, keyed by that layer's name. */
  foldedPads: Map<string, Pads2d>;
}

export type LayerMapper = (l: KerasLayer, ctx: MapContext) => void;

/** Thrown for a layer (or a layer setting) the exporter cannot express; names the layer. */
export class UnsupportedLayerError extends Error {
  constructor(l: Pick<KerasLayer, 'name' | 'className'> | Array<Pick<KerasLayer, 'name' | 'className'>>, why: string) {
    const ls = Array.isArray(l) ? l : [l];
    super(
      `layer${ls.length > 1 ? 's' : ''} ${ls.map((x) => `${x.name} (${x.className})`).join(', ')} cannot be exported to ONNX: ${why}`,
    );
    this.name = 'UnsupportedLayerError';
  }
}

const rankOf = (l: KerasLayer): number => l.outputShape.length;
const pair = (v: unknown, what: string, l: KerasLayer): [number, number] => {
  if (typeof v === 'number') return [v, v];
  if (Array.isArray(v) && v.length === 2 && v.every((x) => typeof x === 'number'))
    return [v[0] as number, v[1] as number];
  throw new UnsupportedLayerError(l, `unreadable ${what} ${JSON.stringify(v)}`);
};
const inputHW = (l: KerasLayer, ctx: MapContext): [number, number] => {
  const s = ctx.layer(l.inputs[0]).outputShape;
  if (s.length !== 4 || typeof s[1] !== 'number' || typeof s[2] !== 'number')
    throw new UnsupportedLayerError(l, `needs a known NHWC input shape, got [${s.join(',')}]`);
  return [s[1], s[2]];
};
const weight = (l: KerasLayer, key: string): { shape: number[]; data: Float32Array } => {
  const w = l.weights.get(key);
  if (!w)
    throw new UnsupportedLayerError(l, `missing weight '${key}' (has ${[...l.weights.keys()].join(', ') || 'none'})`);
  return w;
};
const channelsLast = (l: KerasLayer): void => {
  const f = l.config.dataFormat;
  if (f !== undefined && f !== 'channelsLast')
    throw new UnsupportedLayerError(l, `dataFormat ${String(f)} (only channelsLast)`);
};
const isChannelAxis = (l: KerasLayer): boolean => {
  const axis = l.config.axis as number | number[] | undefined;
  const a = Array.isArray(axis) ? (axis.length === 1 ? axis[0] : NaN) : (axis ?? -1);
  return a === -1 || a === rankOf(l) - 1;
};

/** Appends the activation `fn`; 'linear' adds nothing. `rank` picks the Softmax axis (channels are axis 1 in NCHW). */
export function activation(l: KerasLayer, ctx: MapContext, fn: unknown, input: string, rank: number): string {
  switch (fn ?? 'linear') {
    case 'linear':
      return input;
    case 'relu':
      return ctx.b.node('Relu', [input], l.name);
    case 'sigmoid':
      return ctx.b.node('Sigmoid', [input], l.name);
    case 'tanh':
      return ctx.b.node('Tanh', [input], l.name);
    case 'softmax':
      return ctx.b.node('Softmax', [input], l.name, [{ name: 'axis', int: rank === 4 ? 1 : -1 }]);
    default:
      throw new UnsupportedLayerError(
        l,
        `activation '${String(fn)}' (supported: linear, relu, sigmoid, tanh, softmax)`,
      );
  }
}

/** True when a layer's output is never negative, so zero padding equals MaxPool's ignored padding. */
function nonNegative(l: KerasLayer): boolean {
  const fn = l.config.activation;
  return (
    ['Activation', 'Conv2D', 'Dense'].includes(l.className) && (fn === 'relu' || fn === 'sigmoid' || fn === 'softmax')
  );
}

/** The BatchNormalization that can be folded into this convolution: its only consumer, over channels. */
function foldableBatchNorm(conv: KerasLayer, ctx: MapContext): KerasLayer | undefined {
  const users = ctx.consumers(conv.name);
  const bn = users.length === 1 ? users[0] : undefined;
  return bn &&
    bn.className === 'BatchNormalization' &&
    (conv.config.activation ?? 'linear') === 'linear' &&
    isChannelAxis(bn)
    ? bn
    : undefined;
}

function bnParams(bn: KerasLayer) {
  return {
    gamma: bn.weights.get('gamma')?.data,
    beta: bn.weights.get('beta')?.data,
    mean: weight(bn, 'moving_mean').data,
    variance: weight(bn, 'moving_variance').data,
    epsilon: typeof bn.config.epsilon === 'number' ? bn.config.epsilon : 1e-3,
  };
}

const zeroPadding2d: LayerMapper = (l, ctx) => {
  channelsLast(l);
  const pads = zeroPaddingPads(l.config.padding);
  const users = ctx.consumers(l.name);
  const next = users.length === 1 ? users[0] : undefined;
  const input = ctx.value(l.inputs[0]);
  if (
    next &&
    (next.className === 'Conv2D' || (next.className === 'MaxPooling2D' && nonNegative(ctx.layer(l.inputs[0]))))
  ) {
    ctx.foldedPads.set(next.name, addPads(ctx.foldedPads.get(next.name) ?? NO_PADS, pads));
    ctx.setValue(l.name, input);
    return;
  }
  const [t, left, bottom, r] = pads;
  const p = ctx.b.int64Init(`${l.name}_pads`, [0, 0, t, left, 0, 0, bottom, r]);
  ctx.setValue(l.name, ctx.b.node('Pad', [input, p], l.name));
};

const conv2d: LayerMapper = (l, ctx) => {
  channelsLast(l);
  if (typeof l.config.groups === 'number' && l.config.groups !== 1)
    throw new UnsupportedLayerError(l, `groups=${l.config.groups}`);
  const kernel = weight(l, 'kernel');
  const [kh, kw, , co] = kernel.shape;
  const strides = pair(l.config.strides ?? 1, 'strides', l);
  const dilations = pair(l.config.dilationRate ?? 1, 'dilationRate', l);
  const pads = addPads(
    ctx.foldedPads.get(l.name) ?? NO_PADS,
    windowPads(String(l.config.padding ?? 'valid'), inputHW(l, ctx), [kh, kw], strides, dilations),
  );
  const oihw = hwioToOihw(kernel.data, kernel.shape);
  let w = oihw.data;
  let bias = l.config.useBias === false ? undefined : weight(l, 'bias').data;
  const bn = foldableBatchNorm(l, ctx);
  if (bn) ({ weight: w, bias } = foldBatchNorm(w, bias, co, bnParams(bn)));
  const owner = bn ?? l;
  const inputs = [ctx.value(l.inputs[0]), ctx.b.floatInit(`${owner.name}_W`, oihw.dims, w)];
  if (bias) inputs.push(ctx.b.floatInit(`${owner.name}_B`, [co], bias));
  const y = ctx.b.node('Conv', inputs, owner.name, [
    { name: 'kernel_shape', ints: [kh, kw] },
    { name: 'strides', ints: strides },
    { name: 'dilations', ints: dilations },
    { name: 'pads', ints: pads },
  ]);
  const out = activation(l, ctx, l.config.activation, y, 4);
  ctx.setValue(l.name, out);
  if (bn) ctx.setValue(bn.name, out);
};

const batchNormalization: LayerMapper = (l, ctx) => {
  if (ctx.hasValue(l.name)) return; // folded into the convolution before it
  if (!isChannelAxis(l))
    throw new UnsupportedLayerError(l, `axis ${JSON.stringify(l.config.axis)} is not the channel axis`);
  const p = bnParams(l);
  const c = p.mean.length;
  const inputs = [
    ctx.value(l.inputs[0]),
    ctx.b.floatInit(`${l.name}_scale`, [c], p.gamma ?? new Float32Array(c).fill(1)),
    ctx.b.floatInit(`${l.name}_bias`, [c], p.beta ?? new Float32Array(c)),
    ctx.b.floatInit(`${l.name}_mean`, [c], p.mean),
    ctx.b.floatInit(`${l.name}_var`, [c], p.variance),
  ];
  ctx.setValue(l.name, ctx.b.node('BatchNormalization', inputs, l.name, [{ name: 'epsilon', float: p.epsilon }]));
};

const activationLayer: LayerMapper = (l, ctx) =>
  ctx.setValue(l.name, activation(l, ctx, l.config.activation, ctx.value(l.inputs[0]), rankOf(l)));

const add: LayerMapper = (l, ctx) => {
  const inputs = l.inputs.map((i) => ctx.value(i));
  if (inputs.length < 2) throw new UnsupportedLayerError(l, `needs at least 2 inputs, has ${inputs.length}`);
  ctx.setValue(l.name, ctx.b.node(inputs.length === 2 ? 'Add' : 'Sum', inputs, l.name));
};

const maxPooling2d: LayerMapper = (l, ctx) => {
  channelsLast(l);
  const kernel = pair(l.config.poolSize ?? 2, 'poolSize', l);
  const strides = pair(l.config.strides ?? kernel, 'strides', l);
  const pads = addPads(
    ctx.foldedPads.get(l.name) ?? NO_PADS,
    windowPads(String(l.config.padding ?? 'valid'), inputHW(l, ctx), kernel, strides),
  );
  ctx.setValue(
    l.name,
    ctx.b.node('MaxPool', [ctx.value(l.inputs[0])], l.name, [
      { name: 'kernel_shape', ints: kernel },
      { name: 'strides', ints: strides },
      { name: 'pads', ints: pads },
    ]),
  );
};

const globalPooling =
  (op: 'GlobalAveragePool' | 'GlobalMaxPool'): LayerMapper =>
  (l, ctx) => {
    channelsLast(l);
    if (l.config.keepDims === true) throw new UnsupportedLayerError(l, 'keepDims: true');
    const pooled = ctx.b.node(op, [ctx.value(l.inputs[0])], `${l.name}_pool`);
    ctx.setValue(l.name, ctx.b.node('Flatten', [pooled], l.name, [{ name: 'axis', int: 1 }]));
  };

/** Inference-time identity. */
const identity: LayerMapper = (l, ctx) => ctx.setValue(l.name, ctx.value(l.inputs[0]));

const flatten: LayerMapper = (l, ctx) => {
  const inRank = ctx.layer(l.inputs[0]).outputShape.length;
  let x = ctx.value(l.inputs[0]);
  if (inRank === 4) x = ctx.b.node('Transpose', [x], `${l.name}_nhwc`, [{ name: 'perm', ints: NCHW_TO_NHWC }]); // Keras flattens H, W, C
  ctx.setValue(l.name, inRank === 2 ? x : ctx.b.node('Flatten', [x], l.name, [{ name: 'axis', int: 1 }]));
};

const dense: LayerMapper = (l, ctx) => {
  const inRank = ctx.layer(l.inputs[0]).outputShape.length;
  if (inRank !== 2) throw new UnsupportedLayerError(l, `input of rank ${inRank} (only [batch, features])`);
  const kernel = weight(l, 'kernel');
  const inputs = [ctx.value(l.inputs[0]), ctx.b.floatInit(`${l.name}_W`, kernel.shape, kernel.data)];
  if (l.config.useBias !== false)
    inputs.push(ctx.b.floatInit(`${l.name}_B`, [kernel.shape[1]], weight(l, 'bias').data));
  const y = ctx.b.node('Gemm', inputs, `${l.name}_gemm`);
  ctx.setValue(l.name, activation(l, ctx, l.config.activation, y, 2));
};

/** Keras class name -> mapper. Anything else is refused. */
export const MAPPERS: Readonly<Record<string, LayerMapper>> = {
  ZeroPadding2D: zeroPadding2d,
  Conv2D: conv2d,
  BatchNormalization: batchNormalization,
  Activation: activationLayer,
  Add: add,
  MaxPooling2D: maxPooling2d,
  GlobalAveragePooling2D: globalPooling('GlobalAveragePool'),
  GlobalMaxPooling2D: globalPooling('GlobalMaxPool'),
  Dropout: identity,
  Flatten: flatten,
  Dense: dense,
};
