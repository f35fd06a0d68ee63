import * as tf from '@tensorflow/tfjs';
import type { Info, KernelArgs } from './backend-ops.js';
import { conv2DBackpropFilter } from './conv2d-backprop-filter.js';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type KernelImpl = (args: KernelArgs<any>) => Info;

/** Marks configs registered here, so a second call (or a second copy of this module) changes nothing. */
const OURS = Symbol.for('cxr.wasmTrainingKernel');
type Marked = tf.KernelConfig & { [OURS]?: true };

function isOurs(name: string): boolean {
  return (tf.getKernel(name, 'wasm') as Marked | undefined)?.[OURS] === true;
}

/** Registers a kernel the wasm backend lacks; one it already has (a later tfjs) is kept. */
function addMissing(name: string, impl: KernelImpl): void {
  if (tf.getKernel(name, 'wasm')) return;
  tf.registerKernel({ kernelName: name, backendName: 'wasm', kernelFunc: impl as unknown as tf.KernelFunc, [OURS]: true } as Marked);
}

export { conv2DBackpropFilter };

/**
 * Registers the kernels TF.js WASM needs to train conv layers fast: Conv2DBackpropFilter (missing in tfjs 4.22).
 * Idempotent. Needs '@tensorflow/tfjs-backend-wasm' imported first (its kernels must be registered).
 */
export function registerWasmTrainingKernels(): void {
  if (!tf.getKernel('Conv2D', 'wasm')) {
    throw new Error("registerWasmTrainingKernels: the wasm backend's kernels are not registered; import '@tensorflow/tfjs-backend-wasm' first");
  }
  if (isOurs('Conv2DBackpropFilter')) return;
  addMissing('Conv2DBackpropFilter', conv2DBackpropFilter);
}
