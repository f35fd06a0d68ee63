/** Keras Conv2D kernel [kh, kw, in, out] (HWIO) -> ONNX Conv weight [out, in, kh, kw] (OIHW). */
export function hwioToOihw(data: Float32Array, shape: readonly number[]): { data: Float32Array; dims: number[] } {
  const [kh, kw, ci, co] = shape;
  if (shape.length !== 4 || data.length !== kh * kw * ci * co)
    throw new Error(`hwioToOihw: bad kernel shape [${shape.join(',')}] for ${data.length} values`);
  const out = new Float32Array(data.length);
  for (let h = 0; h < kh; h++) {
    for (let w = 0; w < kw; w++) {
      for (let i = 0; i < ci; i++) {
        const src = ((h * kw + w) * ci + i) * co;
        for (let o = 0; o < co; o++) out[((o * ci + i) * kh + h) * kw + w] = data[src + o];
      }
    }
  }
  return { data: out, dims: [co, ci, kh, kw] };
}

/** Permutation that turns NHWC into NCHW. */
export const NHWC_TO_NCHW = [0, 3, 1, 2];
/** Permutation that turns NCHW back into NHWC. */
export const NCHW_TO_NHWC = [0, 2, 3, 1];
