import { Float16Array } from '@petamoriken/float16';
import type * as tf from '@tensorflow/tfjs';

/**
 * Stores every float32 weight as float16 (TF.js weight-manifest quantization `float16`, which
 * tf.io.decodeWeights widens on load). Halves weights.bin; other dtypes are kept as they are.
 */
export function halfPrecisionArtifacts(a: tf.io.ModelArtifacts): tf.io.ModelArtifacts {
  if (!a.weightSpecs || a.weightData === undefined) return a;
  const data = Array.isArray(a.weightData) ? a.weightData : [a.weightData];
  const all = new Uint8Array(data.reduce((s, b) => s + b.byteLength, 0));
  let o = 0;
  for (const b of data) {
    all.set(new Uint8Array(b), o);
    o += b.byteLength;
  }
  const specs: tf.io.WeightsManifestEntry[] = [];
  const chunks: Uint8Array[] = [];
  let off = 0;
  for (const s of a.weightSpecs) {
    const count = s.shape.reduce((x, y) => x * y, 1);
    if (s.quantization) throw new Error(`weight ${s.name} is already quantized`);
    const bytes = count * (s.dtype === 'float32' || s.dtype === 'int32' ? 4 : 1);
    const raw = all.slice(off, off + bytes);
    off += bytes;
    if (s.dtype !== 'float32') {
      specs.push(s);
      chunks.push(raw);
      continue;
    }
    const half = new Float16Array(new Float32Array(raw.buffer));
    specs.push({ ...s, quantization: { dtype: 'float16' } });
    chunks.push(new Uint8Array(half.buffer));
  }
  const out = new Uint8Array(chunks.reduce((s, c) => s + c.byteLength, 0));
  o = 0;
  for (const c of chunks) {
    out.set(c, o);
    o += c.byteLength;
  }
  return { ...a, weightSpecs: specs, weightData: out.buffer };
}
