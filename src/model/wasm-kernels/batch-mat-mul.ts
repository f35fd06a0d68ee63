import { disposeAll, transpose, type BackendWasm, type Info, type KernelFn } from './backend-ops.js';

function swapLast(backend: BackendWasm, t: Info): Info {
  const perm = t.shape.map((_, i) => i);
  const r = perm.length;
  [perm[r - 2], perm[r - 1]] = [perm[r - 1], perm[r - 2]];
  return transpose(backend, t, perm);
}

/** BatchMatMul with transposeA/transposeB: explicit Transposes, then the plain (fast) product. */
export function makeBatchMatMul(fallback: KernelFn<'a' | 'b'>): KernelFn<'a' | 'b'> {
  return (args) => {
    const {
      inputs: { a, b },
      backend,
      attrs,
    } = args;
    if ((!attrs.transposeA && !attrs.transposeB) || a.dtype !== 'float32' || b.dtype !== 'float32')
      return fallback(args);
    const a2 = attrs.transposeA ? swapLast(backend, a) : a;
    const b2 = attrs.transposeB ? swapLast(backend, b) : b;
    const out = fallback({
      inputs: { a: a2, b: b2 },
      backend,
      attrs: { ...attrs, transposeA: false, transposeB: false },
    });
    if (a2 !== a) disposeAll(backend, a2);
    if (b2 !== b) disposeAll(backend, b2);
    return out;
  };
}
