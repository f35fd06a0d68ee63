import * as tf from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';

export type Info = tf.TensorInfo;
export type { BackendWasm };

/** What the engine passes a kernel function; I names its inputs. */
export interface KernelArgs<I extends string> {
  inputs: Record<I, Info>;
  backend: BackendWasm;
  attrs: tf.NamedAttrMap;
}
export type KernelFn<I extends string> = (args: KernelArgs<I>) => Info;

/** Runs another wasm kernel on tensor infos (data stays on the wasm heap). */
export function runKernel(
  backend: BackendWasm,
  name: string,
  inputs: tf.NamedTensorInfoMap | Info[],
  attrs: tf.NamedAttrMap = {},
): Info {
  const kernel = tf.getKernel(name, 'wasm');
  if (!kernel) throw new Error(`wasm kernel ${name} is not registered`);
  return kernel.kernelFunc({ inputs: inputs as tf.NamedTensorInfoMap, backend, attrs }) as Info;
}

/** A view of the same data with another shape (refcounted: dispose it like any intermediate). */
export function reshape(backend: BackendWasm, x: Info, shape: number[]): Info {
  return runKernel(backend, 'Reshape', { x }, { shape });
}

export function transpose(backend: BackendWasm, x: Info, perm: number[]): Info {
  return runKernel(backend, 'Transpose', { x }, { perm });
}

/** Plain a[b,m,k] x b[b,k,n] (no transpose flags: the fast path). */
export function matMul(backend: BackendWasm, a: Info, b: Info): Info {
  return runKernel(backend, 'BatchMatMul', { a, b }, { transposeA: false, transposeB: false });
}

export function disposeAll(backend: BackendWasm, ...infos: Info[]): void {
  for (const t of infos) backend.disposeData(t.dataId);
}

/** A float32 view of a tensor on the wasm heap; take it after the last allocation (the heap may grow). */
export function heapF32(backend: BackendWasm, t: Info): Float32Array {
  return backend.typedArrayFromHeap(t) as Float32Array;
}

/** Rejects what these kernels do not implement, with the kernel and parameter named. */
export function assertNHWC(kernel: string, dataFormat: string): void {
  if (dataFormat !== 'NHWC')
    throw new Error(`${kernel} (wasm training kernel): dataFormat ${dataFormat} is not supported, only NHWC`);
}
