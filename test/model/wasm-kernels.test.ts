import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { selectBackend } from '../../src/model/backend.js';
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
async function on<T>(backend: 'cpu' | 'wasm', fn: () => T): Promise<T> {
  await tf.setBackend(backend);
  try {
    return fn();
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

/** dx and dW of sum(conv2d(x, W) * r) for a random r, i.e. the backprop kernels fed a random dy. */
function convGrads(c: ConvCase): { dx: Float32Array; dw: Float32Array } {
  return tf.tidy(() => {
    const x = tf.tensor4d(rand(size(c.x), 1), c.x);
    const w = tf.tensor4d(rand(size(c.filter), 2), c.filter).mul(Math.sqrt(3 / (c.filter[0] * c.filter[1] * c.filter[2])));
    const yShape = tf.conv2d(x, w as tf.Tensor4D, c.stride, c.pad).shape;
    const r = tf.tensor(rand(size(yShape), 3), yShape);
    const [dx, dw] = tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, c.stride, c.pad), r)))([x, w]);
    return { dx: dx.dataSync() as Float32Array, dw: dw.dataSync() as Float32Array };
  });
}

const CONV5: ConvCase[] = [
  { name: 'res5a_branch2a 1x1 s2 1024->512 on 14x14', x: [1, 14, 14, 1024], filter: [1, 1, 1024, 512], stride: 2, pad: 'valid' },
  { name: 'res5a_branch1 1x1 s2 1024->2048 on 14x14', x: [1, 14, 14, 1024], filter: [1, 1, 1024, 2048], stride: 2, pad: 'valid' },
  { name: 'res5*_branch2b 3x3 same 512->512 on 7x7', x: [1, 7, 7, 512], filter: [3, 3, 512, 512], stride: 1, pad: 'same' },
  { name: 'res5*_branch2c 1x1 512->2048 on 7x7', x: [1, 7, 7, 512], filter: [1, 1, 512, 2048], stride: 1, pad: 'valid' },
  { name: 'res5b/c_branch2a 1x1 2048->512 on 7x7', x: [1, 7, 7, 2048], filter: [1, 1, 2048, 512], stride: 1, pad: 'valid' },
];
const CONV4: ConvCase[] = [
  { name: 'res4a_branch2a 1x1 s2 512->256 on 28x28', x: [1, 28, 28, 512], filter: [1, 1, 512, 256], stride: 2, pad: 'valid' },
  { name: 'res4a_branch1 1x1 s2 512->1024 on 28x28', x: [1, 28, 28, 512], filter: [1, 1, 512, 1024], stride: 2, pad: 'valid' },
  { name: 'res4*_branch2b 3x3 same 256->256 on 14x14', x: [1, 14, 14, 256], filter: [3, 3, 256, 256], stride: 1, pad: 'same' },
  { name: 'res4*_branch2c 1x1 256->1024 on 14x14', x: [1, 14, 14, 256], filter: [1, 1, 256, 1024], stride: 1, pad: 'valid' },
  { name: 'res4b_branch2a 1x1 1024->256 on 14x14', x: [1, 14, 14, 1024], filter: [1, 1, 1024, 256], stride: 1, pad: 'valid' },
];
/** Other strides and paddings: conv1 (7x7 s2 valid after ZeroPadding, narrow input), 3x3 s2 same on an odd size, 3x3 valid. */
const OTHER: ConvCase[] = [
  { name: 'conv1 7x7 s2 valid 3->64', x: [1, 38, 38, 3], filter: [7, 7, 3, 64], stride: 2, pad: 'valid' },
  { name: '3x3 s2 same 8->16 on 9x9', x: [2, 9, 9, 8], filter: [3, 3, 8, 16], stride: 2, pad: 'same' },
  { name: '3x3 valid 16->8 on 8x8', x: [2, 8, 8, 16], filter: [3, 3, 16, 8], stride: 1, pad: 'valid' },
  { name: '1x1 s2 same 32->16 on 15x15', x: [2, 15, 15, 32], filter: [1, 1, 32, 16], stride: 2, pad: 'same' },
];

beforeAll(async () => {
  await selectBackend(undefined, { TFJS_BACKEND: 'wasm' });
  registerWasmTrainingKernels();
  registerWasmTrainingKernels();
});

/** The cpu backend's Conv2DBackpropFilter needs minutes for the conv4 shapes: run them with CXR_TEST_CONV4=1. */
const CASES = [...CONV5, ...OTHER, ...(process.env.CXR_TEST_CONV4 === '1' ? CONV4 : [])];

describe('wasm training kernels: conv gradients match the cpu backend (max|wasm-cpu| / max|cpu| <= 1e-4)', () => {
  it.each(CASES)('$name', async (c) => {
    const ref = await on('cpu', () => convGrads(c));
    const backend = tf.backend() as unknown as { numDataIds(): number };
    const ids = backend.numDataIds();
    const got = convGrads(c);
    expect(backend.numDataIds()).toBe(ids);
    const errors = { dx: relError(got.dx, ref.dx), dw: relError(got.dw, ref.dw) };
    console.log(`${c.name}: rel error dx ${errors.dx.toExponential(2)} dW ${errors.dw.toExponential(2)}`);
    expect(errors.dx).toBeLessThanOrEqual(1e-4);
    expect(errors.dw).toBeLessThanOrEqual(1e-4);
  });
});
