import sharp from 'sharp';

/** Raised when an object's bytes cannot become a model input; `reason` is meant for people. */
export class ImageDecodeError extends Error {
  constructor(
    readonly reason: string,
    options?: ErrorOptions,
  ) {
    super(reason, options);
    this.name = 'ImageDecodeError';
  }
}

export interface DecodedImage {
  /** size*size*3 bytes, RGB, row-major. */
  rgb: Uint8Array;
  /** Dimensions of the source image before resizing (after EXIF orientation). */
  width: number;
  height: number;
  format: string;
}

/** Largest source image decoded, in pixels (width × height): a 10000×10000 film; more is refused before decoding. */
export const MAX_PIXELS = 100_000_000;

/** Why a source image of this size is not decoded, or undefined when it is within the pixel limit. Pure. */
export function pixelLimitReason(width: number, height: number, what = 'image'): string | undefined {
  const pixels = width * height;
  if (pixels <= MAX_PIXELS) return undefined;
  return `${what} is ${width}×${height} = ${fmt(pixels)} pixels, over the pixel limit of ${fmt(MAX_PIXELS)}`;
}

/** 12845056 -> '12,845,056': limits and sizes in reasons are read by people. */
export const fmt = (n: number): string => n.toLocaleString('en-US');

/**
 * Decodes any sharp-readable image (8/16-bit, grey/RGB/RGBA, any size), applies EXIF orientation,
 * and resizes to size×size RGB without keeping the aspect ratio (as the training set was made).
 */
export async function decodeToRgb(bytes: Uint8Array, size = 224): Promise<DecodedImage> {
  if (bytes.byteLength === 0) throw new ImageDecodeError('empty object (0 bytes)');
  let meta: Awaited<ReturnType<ReturnType<typeof sharp>['metadata']>>;
  try {
    // The header only (no pixels): the size is checked against the limit below, with both numbers in the reason.
    meta = await sharp(bytes, { limitInputPixels: false }).metadata();
  } catch (err) {
    throw new ImageDecodeError(`not a readable image: ${describe(err)}`, { cause: err });
  }
  // sharp's own refusal says only "exceeds pixel limit"; the reason gives the size and the limit.
  const over = pixelLimitReason(meta.width ?? 0, meta.height ?? 0, `${meta.format ?? 'image'} image`);
  if (over) throw new ImageDecodeError(over);
  try {
    const { data } = await sharp(bytes, { limitInputPixels: MAX_PIXELS, failOn: 'error' })
      .rotate()
      .toColourspace('srgb')
      .removeAlpha()
      .resize(size, size, { fit: 'fill' })
      .raw({ depth: 'uchar' })
      .toBuffer({ resolveWithObject: true });
    if (data.length !== size * size * 3) {
      throw new ImageDecodeError(`decoded to ${data.length} bytes, expected ${size * size * 3}`);
    }
    const swap = (meta.orientation ?? 1) >= 5;
    return {
      rgb: new Uint8Array(data.buffer, data.byteOffset, data.byteLength),
      width: (swap ? meta.height : meta.width) ?? 0,
      height: (swap ? meta.width : meta.height) ?? 0,
      format: meta.format ?? 'unknown',
    };
  } catch (err) {
    if (err instanceof ImageDecodeError) throw err;
    throw new ImageDecodeError(`corrupt ${meta.format ?? 'image'} data: ${describe(err)}`);
  }
}

function describe(err: unknown): string {
  const msg = err instanceof Error ? err.message : String(err);
  return msg
    .replace(/^Input (buffer|file) (has|contains) /i, '')
    .split('\n')[0]
    .trim();
}
