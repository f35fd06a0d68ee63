import * as tf from '@tensorflow/tfjs';
import {
  disposeAll,
  heapF32,
  reshape,
  runKernel,
  transpose,
  type BackendWasm,
  type Info,
  type KernelFn,
} from './backend-ops.js';

/** filter [fh,fw,Cin,Cout] -> [fh,fw,Cout,Cin] with the taps reversed (rotated 180 degrees). */
function flipTranspose(backend: BackendWasm, filter: Info): Info {
  const [fh, fw, cin, cout] = filter.shape;
  const taps = fh * fw;
  const f3 = reshape(backend, filter, [taps, cin, cout]);
  const t = transpose(backend, f3, [0, 2, 1]);
  disposeAll(backend, f3);
  if (taps === 1) {
    t.shape = [1, 1, cout, cin];
    return t;
  }
  const out = backend.makeOutput([fh, fw, cout, cin], 'float32');
  const src = heapF32(backend, t);
  const dst = heapF32(backend, out);
  const block = cin * cout;
  for (let i = 0; i < taps; i++) dst.set(src.subarray((taps - 1 - i) * block, (taps - i) * block), i * block);
  disposeAll(backend, t);
  return out;
}

function conv(backend: BackendWasm, x: Info, filter: Info, pad: tf.NamedAttrMap['pad']): Info {
  return runKernel(backend, 'Conv2D', { x, filter }, { strides: 1, pad, dataFormat: 'NHWC', dilations: 1 });
}

/** Writes y [N,oh,ow,C] at rows oy*s - top and columns ox*s - left of a zeroed [N,H,W,C] (a 1x1 conv's input gradient). */
function scatter(backend: BackendWasm, y: Info, inShape: number[], c: tf.backend_util.Conv2DInfo): Info {
  const [n, h, w, ch] = inShape;
  const { outHeight: oh, outWidth: ow, strideHeight: sh, strideWidth: sw } = c;
  const out = backend.makeOutput(inShape, 'float32');
  const ys = heapF32(backend, y);
  const dx = heapF32(backend, out);
  dx.fill(0);
  for (let b = 0; b < n; b++) {
    for (let oy = 0; oy < oh; oy++) {
      const iy = oy * sh - c.padInfo.top;
      if (iy < 0 || iy >= h) continue;
      for (let ox = 0; ox < ow; ox++) {
        const ix = ox * sw - c.padInfo.left;
        if (ix < 0 || ix >= w) continue;
        const src = ((b * oh + oy) * ow + ox) * ch;
        dx.set(ys.subarray(src, src + ch), ((b * h + iy) * w + ix) * ch);
      }
    }
  }
  return out;
}

/**
 * dx of a conv on XNNPACK's Conv2D: stride 1 is a conv of dy with the flipped, transposed filter (padding
 * k-1-pad); a 1x1 conv of any stride is a 1x1 conv of dy scattered into a zeroed map. Other cases use `fallback`.
 */
export function makeConv2DBackpropInput(fallback: KernelFn<'dy' | 'filter'>): KernelFn<'dy' | 'filter'> {
  return (args) => {
    const {
      inputs: { dy, filter },
      backend,
    } = args;
    const attrs = args.attrs as unknown as tf.Conv2DBackpropInputAttrs;
    if (attrs.dataFormat !== 'NHWC' || dy.dtype !== 'float32') return fallback(args);
    const c = tf.backend_util.computeConv2DInfo(
      attrs.inputShape,
      filter.shape as [number, number, number, number],
      attrs.strides,
      1,
      attrs.pad,
      attrs.dimRoundingMode,
      false,
      'channelsLast',
    );
    const { filterHeight: fh, filterWidth: fw, padInfo: p } = c;
    const pads = [fh - 1 - p.top, fh - 1 - p.bottom, fw - 1 - p.left, fw - 1 - p.right];
    const stride1 = c.strideHeight === 1 && c.strideWidth === 1;
    const oneByOne = fh === 1 && fw === 1;
    if (!(oneByOne || (stride1 && pads.every((v) => v >= 0)))) return fallback(args);
    const wT = flipTranspose(backend, filter);
    if (!oneByOne) {
      const dx = conv(backend, dy, wT, [
        [0, 0],
        [pads[0], pads[1]],
        [pads[2], pads[3]],
        [0, 0],
      ]);
      disposeAll(backend, wT);
      return dx;
    }
    const y = conv(backend, dy, wT, 'valid');
    disposeAll(backend, wT);
    if (stride1 && p.top + p.left + p.bottom + p.right === 0) return y;
    const dx = scatter(backend, y, attrs.inputShape, c);
    disposeAll(backend, y);
    return dx;
  };
}
