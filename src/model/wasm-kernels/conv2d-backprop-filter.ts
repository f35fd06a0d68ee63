import * as tf from '@tensorflow/tfjs';
import { assertNHWC, disposeAll, matMul, reshape, transpose, type Info, type KernelArgs } from './backend-ops.js';
import { im2col } from './im2col.js';

/**
 * dW [fh,fw,Cin,Cout] = patches(x)^T . dy, with patches [M, fh*fw*Cin] (M = N*outH*outW): one plain matMul
 * after an explicit transpose. A 1x1 stride-1 unpadded conv needs no patches (x reshaped is them).
 */
export function conv2DBackpropFilter(args: KernelArgs<'x' | 'dy'>): Info {
  const {
    inputs: { x, dy },
    backend,
  } = args;
  const attrs = args.attrs as unknown as tf.Conv2DBackpropFilterAttrs;
  assertNHWC('Conv2DBackpropFilter', attrs.dataFormat);
  if (x.dtype !== 'float32' || dy.dtype !== 'float32')
    throw new Error(
      `Conv2DBackpropFilter (wasm training kernel): dtype ${x.dtype}/${dy.dtype} is not supported, only float32`,
    );
  const conv = tf.backend_util.computeConv2DInfo(
    x.shape as [number, number, number, number],
    attrs.filterShape,
    attrs.strides,
    1,
    attrs.pad,
    attrs.dimRoundingMode,
    false,
    'channelsLast',
  );
  const [fh, fw, cin, cout] = attrs.filterShape;
  if (
    dy.shape[1] !== conv.outHeight ||
    dy.shape[2] !== conv.outWidth ||
    dy.shape[3] !== cout ||
    dy.shape[0] !== x.shape[0]
  ) {
    throw new Error(
      `Conv2DBackpropFilter (wasm training kernel): dy shape ${dy.shape} does not match the conv output ${conv.outShape}`,
    );
  }
  const m = x.shape[0] * conv.outHeight * conv.outWidth;
  const k = fh * fw * cin;
  const p = conv.padInfo;
  const plain =
    fh === 1 &&
    fw === 1 &&
    conv.strideHeight === 1 &&
    conv.strideWidth === 1 &&
    p.top + p.bottom + p.left + p.right === 0;
  const cols = plain ? reshape(backend, x, [m, k]) : im2col(backend, x, conv);
  const colsT = transpose(backend, cols, [1, 0]);
  const a = reshape(backend, colsT, [1, k, m]);
  const b = reshape(backend, dy, [1, m, cout]);
  const out = matMul(backend, a, b);
  disposeAll(backend, cols, colsT, a, b);
  out.shape = [fh, fw, cin, cout];
  return out;
}
