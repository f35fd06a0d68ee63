import * as tf from '@tensorflow/tfjs';
import type { KernelFn } from './backend-ops.js';
import { makeBatchMatMul } from './batch-mat-mul.js';
import { conv2DBackpropFilter } from './conv2d-backprop-filter.js';
import { makeConv2DBackpropInput } from './conv2d-backprop-input.js';
import { makeSum } from './sum.js';
import { makeTile } from './tile.js';

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- one table of kernels whose attribute types differ
type AnyKernelFn = KernelFn<any>;

/** Marks configs registered here, so a second call (or a second copy of this module) changes nothing. */
const OURS = Symbol.for('cxr.wasmTrainingKernel');
type Marked = tf.KernelConfig & { [OURS]?: true };

function register(config: tf.KernelConfig): void {
  tf.registerKernel({ ...config, [OURS]: true } as Marked);
}

/** Registers a kernel the wasm backend lacks; one it already has (a later tfjs) is kept. */
function addMissing(name: string, impl: AnyKernelFn): void {
  if (tf.getKernel(name, 'wasm')) return;
  register({ kernelName: name, backendName: 'wasm', kernelFunc: impl as unknown as tf.KernelFunc });
}

/** Replaces a slow wasm kernel by a faster one that hands the cases it does not cover to the original. */
function wrap(name: string, make: (original: AnyKernelFn) => AnyKernelFn): void {
  const original = tf.getKernel(name, 'wasm') as Marked | undefined;
  if (!original || original[OURS]) return;
  tf.unregisterKernel(name, 'wasm');
  // setupFunc stays: the original's wasm bindings are made when the backend initialises.
  register({
    ...original,
    kernelFunc: make(original.kernelFunc as unknown as AnyKernelFn) as unknown as tf.KernelFunc,
  });
}

export { conv2DBackpropFilter };

/**
 * Registers, for the wasm backend, the kernels training conv layers needs (tfjs 4.22):
 * - Conv2DBackpropFilter, missing (only added while missing);
 * - faster Conv2DBackpropInput (stride 1 and 1x1 cases), Tile (as a broadcast), BatchMatMul (transposed
 *   operands) and Sum (over leading axes), replacing the shipped ones, which remain the fallback for other cases.
 * Idempotent. Needs '@tensorflow/tfjs-backend-wasm' imported first; call it before or after tf.setBackend('wasm').
 */
export function registerWasmTrainingKernels(): void {
  if (!tf.getKernel('Conv2D', 'wasm')) {
    throw new Error(
      "registerWasmTrainingKernels: the wasm backend's kernels are not registered; import '@tensorflow/tfjs-backend-wasm' first",
    );
  }
  addMissing('Conv2DBackpropFilter', conv2DBackpropFilter);
  wrap('Conv2DBackpropInput', makeConv2DBackpropInput);
  wrap('Tile', makeTile);
  wrap('BatchMatMul', makeBatchMatMul);
  wrap('Sum', makeSum);
}
