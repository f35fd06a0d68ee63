import { disposeAll, runKernel, type Info, type KernelFn } from './backend-ops.js';

/**
 * Tile where every repeated axis has size 1 is a broadcast (the BatchNorm gradient tiles [1,1,1,C] to x's
 * shape): zeros of the output shape + x with XNNPACK's broadcasting Add. Other tilings use `fallback`.
 */
export function makeTile(fallback: KernelFn<'x'>): KernelFn<'x'> {
  return (args) => {
    const {
      inputs: { x },
      backend,
    } = args;
    const reps = args.attrs.reps as number[];
    const broadcast = reps.every((r, i) => r === 1 || x.shape[i] === 1);
    if (!broadcast || x.dtype !== 'float32') return fallback(args);
    const shape = x.shape.map((d, i) => d * reps[i]);
    const zeros = runKernel(backend, 'Fill', {}, { shape, value: 0, dtype: 'float32' });
    const out: Info = runKernel(backend, 'Add', { a: zeros, b: x });
    disposeAll(backend, zeros);
    return out;
  };
}
