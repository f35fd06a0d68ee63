import type * as tf from '@tensorflow/tfjs';
import { heapF32, type BackendWasm, type Info } from './backend-ops.js';

/**
 * Patches of x [N,H,W,C] as rows: [N*outH*outW, fh*fw*C], columns ordered (ky, kx, c) like a filter's
 * [fh,fw,C,Cout] flattened. Zero outside the input (padding); any stride and dilation.
 */
export function im2col(backend: BackendWasm, x: Info, c: tf.backend_util.Conv2DInfo): Info {
  const [n, h, w, ch] = x.shape;
  const { outHeight: oh, outWidth: ow, filterHeight: fh, filterWidth: fw, strideHeight: sh, strideWidth: sw } = c;
  const { dilationHeight: dh, dilationWidth: dw } = c;
  const { top, left } = c.padInfo;
  const out = backend.makeOutput([n * oh * ow, fh * fw * ch], 'float32');
  const xs = heapF32(backend, x);
  const cols = heapF32(backend, out);
  let dst = 0;
  for (let b = 0; b < n; b++) {
    for (let oy = 0; oy < oh; oy++) {
      for (let ox = 0; ox < ow; ox++) {
        for (let ky = 0; ky < fh; ky++) {
          const iy = oy * sh - top + ky * dh;
          for (let kx = 0; kx < fw; kx++) {
            const ix = ox * sw - left + kx * dw;
            if (iy < 0 || iy >= h || ix < 0 || ix >= w) {
              cols.fill(0, dst, dst + ch);
            } else {
              const src = ((b * h + iy) * w + ix) * ch;
              if (ch >= 16) cols.set(xs.subarray(src, src + ch), dst);
              else for (let i = 0; i < ch; i++) cols[dst + i] = xs[src + i];
            }
            dst += ch;
          }
        }
      }
    }
  }
  return out;
}
