import { createHash } from 'node:crypto';
import { FEATURE_DIM } from '../model/train/features.js';
import type { FeatureSet } from '../model/train/head-train.js';

/** Head state in standardised feature space: kernel then bias, float32. Pure encoders/decoders. */
export function encodeHead(kernel: Float32Array, bias: number): Uint8Array {
  const a = new Float32Array(kernel.length + 1);
  a.set(kernel);
  a[kernel.length] = bias;
  return new Uint8Array(a.buffer);
}

export function decodeHead(bytes: Uint8Array, dim = FEATURE_DIM): { kernel: Float32Array; bias: number } {
  if (bytes.byteLength !== (dim + 1) * 4)
    throw new Error(`head state has ${bytes.byteLength} bytes, expected ${(dim + 1) * 4}`);
  const a = new Float32Array(bytes.slice().buffer);
  return { kernel: a.slice(0, dim), bias: a[dim] };
}

export const headBytes = (dim = FEATURE_DIM) => (dim + 1) * 4;

/** Id of a state: first 16 hex of sha256 over its bytes. */
export function stateId(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex').slice(0, 16);
}

export function encodeF64Pair(a: Float64Array, b: Float64Array): Uint8Array {
  const out = new Float64Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return new Uint8Array(out.buffer);
}

export function decodeF64Pair(bytes: Uint8Array, dim = FEATURE_DIM): [Float64Array, Float64Array] {
  if (bytes.byteLength !== dim * 16) throw new Error(`statistics have ${bytes.byteLength} bytes, expected ${dim * 16}`);
  const a = new Float64Array(bytes.slice().buffer);
  return [a.slice(0, dim), a.slice(dim)];
}

export function encodeNorm(mean: Float32Array, std: Float32Array): Uint8Array {
  const out = new Float32Array(mean.length * 2);
  out.set(mean);
  out.set(std, mean.length);
  return new Uint8Array(out.buffer);
}

export function decodeNorm(bytes: Uint8Array, dim = FEATURE_DIM): { mean: Float32Array; std: Float32Array } {
  if (bytes.byteLength !== dim * 8) throw new Error(`norm has ${bytes.byteLength} bytes, expected ${dim * 8}`);
  const a = new Float32Array(bytes.slice().buffer);
  return { mean: a.slice(0, dim), std: a.slice(dim) };
}

/** Feature set as float32: [n, labels(n), x(n*dim)]. */
export function encodeFeatureSet(s: FeatureSet): Uint8Array {
  const out = new Float32Array(1 + s.n + s.x.length);
  out[0] = s.n;
  out.set(Float32Array.from(s.y), 1);
  out.set(s.x, 1 + s.n);
  return new Uint8Array(out.buffer);
}

export function decodeFeatureSet(bytes: Uint8Array, dim = FEATURE_DIM): FeatureSet {
  const a = new Float32Array(bytes.slice().buffer);
  const n = a[0];
  if (a.length !== 1 + n + n * dim) throw new Error(`feature set: ${a.length} floats do not fit n=${n}, dim=${dim}`);
  return { n, dim, y: Uint8Array.from(a.subarray(1, 1 + n)), x: a.slice(1 + n) };
}

/** (x - mean) / std per column, into a new matrix. Pure. */
export { standardise } from '../model/train/standardise.js';

/** Several byte blobs as one: [count u32][length u32 each][blobs]. Pure. */
export function packParts(parts: readonly Uint8Array[]): Uint8Array {
  const head = new Uint32Array(1 + parts.length);
  head[0] = parts.length;
  parts.forEach((p, i) => {
    head[1 + i] = p.byteLength;
  });
  const out = new Uint8Array(head.byteLength + parts.reduce((s, p) => s + p.byteLength, 0));
  out.set(new Uint8Array(head.buffer));
  let o = head.byteLength;
  for (const p of parts) {
    out.set(p, o);
    o += p.byteLength;
  }
  return out;
}

export function unpackParts(bytes: Uint8Array): Uint8Array[] {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const count = view.getUint32(0, true);
  let o = 4 * (1 + count);
  const parts: Uint8Array[] = [];
  for (let i = 0; i < count; i++) {
    const len = view.getUint32(4 * (1 + i), true);
    if (o + len > bytes.byteLength) throw new Error('packed parts: truncated');
    parts.push(bytes.slice(o, o + len));
    o += len;
  }
  return parts;
}

export const f32Bytes = (a: Float32Array): Uint8Array => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
export const bytesF32 = (b: Uint8Array): Float32Array => new Float32Array(b.slice().buffer);
