/** ONNX 2-D pads order: [top, left, bottom, right]. */
export type Pads2d = [number, number, number, number];

export const NO_PADS: Pads2d = [0, 0, 0, 0];

/** TF 'same' padding for one axis: total split with the extra pixel at the end. */
function sameAxis(size: number, kernel: number, stride: number, dilation: number): [number, number] {
  const effective = (kernel - 1) * dilation + 1;
  const out = Math.ceil(size / stride);
  const total = Math.max((out - 1) * stride + effective - size, 0);
  return [Math.floor(total / 2), total - Math.floor(total / 2)];
}

/** Explicit pads for a Keras 'valid' or 'same' window over an H x W input. */
export function windowPads(
  padding: string,
  inHW: [number, number],
  kernel: [number, number],
  strides: [number, number],
  dilation: [number, number] = [1, 1],
): Pads2d {
  if (padding === 'valid') return [...NO_PADS];
  if (padding !== 'same') throw new Error(`padding '${padding}' is not 'valid' or 'same'`);
  const [t, b] = sameAxis(inHW[0], kernel[0], strides[0], dilation[0]);
  const [l, r] = sameAxis(inHW[1], kernel[1], strides[1], dilation[1]);
  return [t, l, b, r];
}

/** Keras ZeroPadding2D `padding` ([[top, bottom], [left, right]] or a number or [h, w]) as ONNX pads. */
export function zeroPaddingPads(p: unknown): Pads2d {
  if (typeof p === 'number') return [p, p, p, p];
  if (Array.isArray(p) && p.length === 2) {
    const [h, w] = p as unknown[];
    if (typeof h === 'number' && typeof w === 'number') return [h, w, h, w];
    if (Array.isArray(h) && Array.isArray(w)) return [h[0] as number, w[0] as number, h[1] as number, w[1] as number];
  }
  throw new Error(`unreadable ZeroPadding2D padding ${JSON.stringify(p)}`);
}

export const addPads = (a: Pads2d, b: Pads2d): Pads2d => [a[0] + b[0], a[1] + b[1], a[2] + b[2], a[3] + b[3]];
