import * as tf from '@tensorflow/tfjs';
import { disposeAll, matMul, reshape, runKernel, type KernelFn } from './backend-ops.js';

/**
 * Sum over leading axes (the BatchNorm and bias gradients reduce [N,H,W,C] over N,H,W): a row of ones times
 * x as [M, rest], one GEMV, instead of the shipped kernel's transpose-then-reduce. Other sums use `fallback`.
 */
export function makeSum(fallback: KernelFn<'x'>): KernelFn<'x'> {
  return (args) => {
    const {
      inputs: { x },
      backend,
      attrs,
    } = args;
    const axes = tf.util.parseAxisParam(attrs.axis as number | number[], x.shape).sort((a, b) => a - b);
    const k = axes.length;
    if (x.dtype !== 'float32' || k === 0 || k === x.shape.length || axes.some((a, i) => a !== i)) return fallback(args);
    const rest = x.shape.slice(k);
    const m = tf.util.sizeFromShape(x.shape.slice(0, k));
    const ones = runKernel(backend, 'Fill', {}, { shape: [1, 1, m], value: 1, dtype: 'float32' });
    const x3 = reshape(backend, x, [1, m, tf.util.sizeFromShape(rest)]);
    const out = matMul(backend, ones, x3);
    disposeAll(backend, ones, x3);
    out.shape = attrs.keepDims ? [...axes.map(() => 1), ...rest] : rest;
    return out;
  };
}
