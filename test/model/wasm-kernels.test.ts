import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { selectBackend } from '../../src/model/backend.js';
import { buildResNet50 } from '../../src/model/resnet50.js';
import { registerWasmTrainingKernels } from '../../src/model/wasm-kernels/index.js';

/** Deterministic uniform [-1, 1) values (mulberry32). */
function rand(n: number, seed: number): Float32Array {
  const out = new Float32Array(n);
  let a = seed >>> 0;
  for (let i = 0; i < n; i++) {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), a | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    out[i] = (((t ^ (t >>> 14)) >>> 0) / 4294967296) * 2 - 1;
  }
  return out;
}

/** max |a - b| / max |b|: the error relative to the reference's scale. */
function relError(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < b.length; i++) {
    diff = Math.max(diff, Math.abs(a[i] - b[i]));
    scale = Math.max(scale, Math.abs(b[i]));
  }
  expect(scale).toBeGreaterThan(0);
  return diff / scale;
}

const size = (s: number[]): number => s.reduce((p, d) => p * d, 1);

/** Runs fn on a backend, leaving wasm selected afterwards. */
async function on<T>(backend: 'cpu' | 'wasm', fn: () => T | Promise<T>): Promise<T> {
  await tf.setBackend(backend);
  try {
    return await fn();
  } finally {
    await tf.setBackend('wasm');
  }
}

interface ConvCase {
  name: string;
  x: [number, number, number, number];
  filter: [number, number, number, number];
  stride: number;
  pad: 'same' | 'valid';
}

/** x, W and a random dy (r) for a conv case. */
function convInputs(c: ConvCase): { x: tf.Tensor4D; w: tf.Tensor4D; r: tf.Tensor4D } {
  const x = tf.tensor4d(rand(size(c.x), 1), c.x);
  const w = tf.tensor4d(
    rand(size(c.filter), 2).map((u) => u * Math.sqrt(3 / (c.filter[0] * c.filter[1] * c.filter[2]))),
    c.filter,
  );
  const yShape = tf.backend_util.computeConv2DInfo(c.x, c.filter, c.stride, 1, c.pad).outShape;
  return { x, w, r: tf.tensor4d(rand(size(yShape), 3), yShape) };
}

/** dx and dW of sum(conv2d(x, W) * r) by autodiff on the current backend: the backprop kernels fed dy = r. */
function convGrads(c: ConvCase): { dx: Float32Array; dw: Float32Array } {
  return tf.tidy(() => {
    const { x, w, r } = convInputs(c);
    const [dx, dw] = tf.grads((a: tf.Tensor, b: tf.Tensor) =>
      tf.sum(tf.mul(tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, c.stride, c.pad), r)),
    )([x, w]);
    return { dx: dx.dataSync() as Float32Array, dw: dw.dataSync() as Float32Array };
  });
}

/**
 * The same from the current backend's gradient kernels called directly (no forward pass), dW only for the
 * output channels `cols` (the filter gradient restricted to them: the same values).
 */
function convGradKernels(c: ConvCase, cols: number[]): { dx: Float32Array; dw: Float32Array } {
  return tf.tidy(() => {
    const { x, w, r } = convInputs(c);
    const common = { strides: c.stride, pad: c.pad, dataFormat: 'NHWC' };
    const dx = tf
      .engine()
      .runKernel('Conv2DBackpropInput', { dy: r, filter: w }, { ...common, inputShape: c.x }) as tf.Tensor;
    const filterShape = [...c.filter.slice(0, 3), cols.length];
    const dw = tf
      .engine()
      .runKernel('Conv2DBackpropFilter', { x, dy: tf.gather(r, cols, 3) }, { ...common, filterShape }) as tf.Tensor;
    return { dx: dx.dataSync() as Float32Array, dw: dw.dataSync() as Float32Array };
  });
}

/** Output channels [fh,fw,Cin,Cout]-ordered dW values restricted to `cols`, in the same order as tf.gather gives them. */
function pickColumns(dw: Float32Array, cout: number, cols: number[]): Float32Array {
  const out = new Float32Array((dw.length / cout) * cols.length);
  for (let i = 0, o = 0; i < dw.length; i += cout) for (const j of cols) out[o++] = dw[i + j];
  return out;
}

/**
 * The cpu backend's filter gradient is a per-element loop (minutes per conv5 shape): by default its reference
 * covers 64 output channels spread over the range (first and last included); CXR_TEST_FULL=1 checks all of them.
 * CXR_TEST_CONV4=1 adds the conv4 shapes.
 */
const FULL = process.env.CXR_TEST_FULL === '1';
const REF_COLS = 64;
function refColumns(cout: number): number[] {
  if (FULL || cout <= REF_COLS) return Array.from({ length: cout }, (_, i) => i);
  return Array.from({ length: REF_COLS }, (_, i) => Math.round((i * (cout - 1)) / (REF_COLS - 1)));
}

/** The distinct convs of a ResNet50 stage on input [h,h,cin] (stride 2 in block a), filters f1 (2a, 2b) and f3 (2c). */
function stageCases(stage: number, h: number, cin: number, f1: number, f3: number): ConvCase[] {
  const o = h / 2;
  const c = (name: string, x: number, k: number, ci: number, co: number, stride: number): ConvCase => ({
    name: `res${stage}${name} ${k}x${k} s${stride} ${ci}->${co} on ${x}x${x}`,
    x: [1, x, x, ci],
    filter: [k, k, ci, co],
    stride,
    pad: k === 3 ? 'same' : 'valid',
  });
  return [
    c('a_branch2a', h, 1, cin, f1, 2),
    c('a_branch1', h, 1, cin, f3, 2),
    c('*_branch2b (same)', o, 3, f1, f1, 1),
    c('*_branch2c', o, 1, f1, f3, 1),
    c('b/c_branch2a', o, 1, f3, f1, 1),
  ];
}
const CONV5 = stageCases(5, 14, 1024, 512, 2048);
const CONV4 = stageCases(4, 28, 512, 256, 1024);
/** Other strides and paddings: conv1 (7x7 s2 valid after ZeroPadding, narrow input), 3x3 s2 same on an odd size, 3x3 valid. */
const OTHER: ConvCase[] = [
  { name: 'conv1 7x7 s2 valid 3->64', x: [1, 38, 38, 3], filter: [7, 7, 3, 64], stride: 2, pad: 'valid' },
  { name: '3x3 s2 same 8->16 on 9x9', x: [2, 9, 9, 8], filter: [3, 3, 8, 16], stride: 2, pad: 'same' },
  { name: '3x3 valid 16->8 on 8x8', x: [2, 8, 8, 16], filter: [3, 3, 16, 8], stride: 1, pad: 'valid' },
  { name: '1x1 s2 same 32->16 on 15x15', x: [2, 15, 15, 32], filter: [1, 1, 32, 16], stride: 2, pad: 'same' },
];

const KERNELS = ['Conv2DBackpropFilter', 'Conv2DBackpropInput', 'Tile', 'BatchMatMul', 'Sum'];

beforeAll(async () => {
  await selectBackend(undefined, { TFJS_BACKEND: 'wasm' });
  registerWasmTrainingKernels();
});

describe('registerWasmTrainingKernels', () => {
  it('is idempotent: a second call keeps the registered kernel functions', () => {
    const before = KERNELS.map((k) => tf.getKernel(k, 'wasm')?.kernelFunc);
    expect(before.every((f) => typeof f === 'function')).toBe(true);
    registerWasmTrainingKernels();
    expect(KERNELS.map((k) => tf.getKernel(k, 'wasm')?.kernelFunc)).toEqual(before);
  });

  it('rejects NCHW with a message naming the kernel and the format', () => {
    const x = tf.zeros([1, 4, 4, 4]);
    expect(() =>
      tf
        .engine()
        .runKernel(
          'Conv2DBackpropFilter',
          { x, dy: x },
          { strides: 1, pad: 'valid', dataFormat: 'NCHW', filterShape: [1, 1, 4, 4] },
        ),
    ).toThrow(/Conv2DBackpropFilter.*NCHW/);
    x.dispose();
  });
});

describe('wasm training kernels: forward kernels match the cpu backend', () => {
  const cases: Array<{ name: string; run: () => tf.Tensor }> = [
    { name: 'Tile [1,1,1,64] as a broadcast', run: () => tf.tile(tf.tensor(rand(64, 4), [1, 1, 1, 64]), [2, 7, 7, 1]) },
    { name: 'Tile that repeats data (fallback)', run: () => tf.tile(tf.tensor(rand(24, 5), [2, 3, 4]), [2, 1, 3]) },
    {
      name: 'BatchMatMul transposeA',
      run: () =>
        tf.matMul(tf.tensor(rand(98 * 64, 6), [1, 98, 64]), tf.tensor(rand(98 * 32, 7), [1, 98, 32]), true, false),
    },
    {
      name: 'BatchMatMul transposeB',
      run: () => tf.matMul(tf.tensor(rand(40 * 64, 8), [40, 64]), tf.tensor(rand(16 * 64, 9), [16, 64]), false, true),
    },
    {
      name: 'BatchMatMul both, batch 3',
      run: () =>
        tf.matMul(
          tf.tensor(rand(3 * 64 * 40, 10), [3, 64, 40]),
          tf.tensor(rand(3 * 16 * 64, 11), [3, 16, 64]),
          true,
          true,
        ),
    },
    { name: 'Sum over N,H,W', run: () => tf.sum(tf.tensor(rand(2 * 7 * 7 * 96, 12), [2, 7, 7, 96]), [0, 1, 2]) },
    {
      name: 'Sum over N,H keepDims',
      run: () => tf.sum(tf.tensor(rand(2 * 5 * 6 * 8, 13), [2, 5, 6, 8]), [1, 0], true),
    },
    { name: 'Sum over the last axis (fallback)', run: () => tf.sum(tf.tensor(rand(30 * 8, 14), [30, 8]), -1) },
  ];
  it.each(cases)('$name', async ({ run }) => {
    const read = (): { shape: number[]; data: Float32Array } =>
      tf.tidy(() => {
        const t = run();
        return { shape: t.shape, data: t.dataSync() as Float32Array };
      });
    const ref = await on('cpu', read);
    const got = read();
    expect(got.shape).toEqual(ref.shape);
    expect(relError(got.data, ref.data)).toBeLessThanOrEqual(1e-5);
  });
});

const CASES = [...CONV5, ...OTHER, ...(process.env.CXR_TEST_CONV4 === '1' ? CONV4 : [])];

describe('wasm training kernels: conv gradients match the cpu backend (max|wasm-cpu| / max|cpu| <= 1e-4)', () => {
  it.each(CASES)('$name', async (c) => {
    const cols = refColumns(c.filter[3]);
    const ref = await on('cpu', () => convGradKernels(c, cols));
    const backend = tf.backend() as unknown as { numDataIds(): number };
    const ids = backend.numDataIds();
    const got = convGrads(c);
    expect(backend.numDataIds()).toBe(ids);
    const errors = { dx: relError(got.dx, ref.dx), dw: relError(pickColumns(got.dw, c.filter[3], cols), ref.dw) };
    console.log(
      `${c.name}: rel error dx ${errors.dx.toExponential(2)} dW ${errors.dw.toExponential(2)} (${cols.length}/${c.filter[3]} output channels)`,
    );
    expect(errors.dx).toBeLessThanOrEqual(1e-4);
    expect(errors.dw).toBeLessThanOrEqual(1e-4);
  });
});

type ModelConfig = { config: { layers: Array<{ class_name: string; config: Record<string, unknown> }> } };

/** The conv5 suffix's config (built once: initialising its 15 M weights takes seconds). */
let suffixConfig: ModelConfig | undefined;
function conv5Config(): ModelConfig {
  if (!suffixConfig) {
    const full = buildResNet50({ from: 'activation_39', top: 'avg_pool' });
    suffixConfig = full.toJSON(null, false) as unknown as ModelConfig;
    full.dispose();
  }
  return structuredClone(suffixConfig);
}

/** The conv5 suffix + Dense(1), its channels divided by `divisor` (same layers, names and wiring), on the current backend. */
async function narrowSuffix(divisor: number): Promise<tf.LayersModel> {
  const cfg = conv5Config();
  for (const l of cfg.config.layers) {
    if (l.class_name === 'Conv2D') l.config.filters = (l.config.filters as number) / divisor;
    if (l.class_name === 'InputLayer') {
      const shape = l.config.batch_input_shape as number[];
      shape[3] /= divisor;
    }
  }
  const base = await tf.models.modelFromJSON({ modelTopology: cfg } as unknown as tf.io.ModelJSON);
  const logit = tf.layers.dense({ units: 1, name: 'logit' }).apply(base.outputs[0]) as tf.SymbolicTensor;
  const model = tf.model({ inputs: base.inputs, outputs: logit });
  // Same deterministic weights on every backend; BatchNorm statistics and affine terms away from identity.
  model.setWeights(
    model.weights.map((w, i) => {
      const shape = w.shape as number[];
      const n = size(shape);
      const r = rand(n, 100 + i);
      const name = w.originalName;
      const v = /moving_variance/.test(name)
        ? r.map((u) => 0.6 + 0.4 * u)
        : /gamma/.test(name)
          ? r.map((u) => 1 + 0.3 * u)
          : /moving_mean|beta|bias/.test(name)
            ? r.map((u) => 0.1 * u)
            : r.map((u) => u * Math.sqrt(3 / (n / shape[shape.length - 1])));
      return tf.tensor(v, shape);
    }),
  );
  return model;
}

/** Loss and gradients of every trainable weight (in model order) of BCE on the logits, BatchNorm in inference mode. */
async function suffixGrads(divisor: number): Promise<{ names: string[]; grads: Float32Array[]; loss: number }> {
  const model = await narrowSuffix(divisor);
  const shape = model.inputs[0].shape.slice(1) as number[];
  const out = tf.tidy(() => {
    const x = tf.tensor(
      rand(2 * size(shape), 50).map((u) => Math.max(0, u) * 2),
      [2, ...shape],
    );
    const y = tf.tensor2d([[1], [0]]);
    const vars = model.trainableWeights.map((w) => w.read() as tf.Variable);
    const { value, grads } = tf.variableGrads(
      () => tf.losses.sigmoidCrossEntropy(y, model.apply(x, { training: false }) as tf.Tensor),
      vars,
    );
    return {
      names: model.trainableWeights.map((w) => w.originalName),
      grads: vars.map((v) => grads[v.name].dataSync() as Float32Array),
      loss: value.dataSync()[0],
    };
  });
  model.dispose();
  return out;
}

describe('wasm training kernels: whole conv5 suffix', () => {
  // The cpu backend needs minutes per image for the full-width suffix (its Conv2DBackpropFilter is a
  // per-element loop): the check runs on a copy with 16x fewer channels in every layer.
  it('gradients of every trainable weight match the cpu backend (BatchNorm frozen), channels / 16', async () => {
    const ref = await on('cpu', () => suffixGrads(16));
    const got = await suffixGrads(16);
    expect(got.names).toEqual(ref.names);
    expect(got.names.filter((n) => /moving/.test(n))).toEqual([]);
    expect(got.names.filter((n) => /gamma|beta/.test(n)).length).toBe(2 * 10);
    expect(Math.abs(got.loss - ref.loss)).toBeLessThanOrEqual(1e-5 * Math.abs(ref.loss));
    const errors = got.grads.map((g, i) => relError(g, ref.grads[i]));
    const worst = errors.indexOf(Math.max(...errors));
    console.log(
      `whole suffix: ${errors.length} gradients, worst rel error ${errors[worst].toExponential(2)} (${got.names[worst]})`,
    );
    expect(errors[worst]).toBeLessThanOrEqual(1e-4);
  });
});
