/** ImageNet channel means in BGR order, as Keras "caffe" preprocessing uses them. */
export const CAFFE_MEAN_BGR = [103.939, 116.779, 123.68] as const;

/**
 * Keras "caffe" preprocessing: RGB -> BGR, subtract the ImageNet means, no scaling.
 * Writes into `out` at `offset` (floats) so a batch can be filled in place.
 */
export function caffePreprocess(
  rgb: Uint8Array,
  out: Float32Array = new Float32Array(rgb.length),
  offset = 0,
): Float32Array {
  if (rgb.length % 3 !== 0) throw new Error(`RGB buffer length ${rgb.length} is not a multiple of 3`);
  if (offset + rgb.length > out.length) throw new Error('output buffer too small for this image');
  for (let i = 0; i < rgb.length; i += 3) {
    out[offset + i] = rgb[i + 2] - CAFFE_MEAN_BGR[0];
    out[offset + i + 1] = rgb[i + 1] - CAFFE_MEAN_BGR[1];
    out[offset + i + 2] = rgb[i] - CAFFE_MEAN_BGR[2];
  }
  return out;
}
