import type { PixelCodec } from './transfer-syntax.js';

/** The image size a codestream's own header declares: what its decoder will allocate for. */
export interface CodestreamSize {
  width: number;
  height: number;
  components: number;
}

/**
 * Reads the frame size from an encapsulated frame's header without decoding it: the SOFn marker of JPEG
 * (baseline, extended, lossless), SOF55 of JPEG-LS, SIZ of JPEG 2000 (bare or inside a JP2 'jp2c' box).
 * Undefined when the header is not where the format puts it. Pure.
 */
export function codestreamSize(codec: PixelCodec, b: Uint8Array): CodestreamSize | undefined {
  if (codec === 'jpeg-2000') return j2kSize(b);
  if (codec === 'jpeg-baseline' || codec === 'jpeg-lossless' || codec === 'jpeg-ls') return jpegSize(b);
  return undefined;
}

const u16 = (b: Uint8Array, i: number) => (b[i] << 8) | b[i + 1];
const u32 = (b: Uint8Array, i: number) => ((b[i] << 24) >>> 0) + (b[i + 1] << 16) + (b[i + 2] << 8) + b[i + 3];

/** JPEG family (ITU T.81 B.2.2, T.87 for SOF55): walks marker segments from SOI to the first frame header. */
function jpegSize(b: Uint8Array): CodestreamSize | undefined {
  if (b.length < 4 || b[0] !== 0xff || b[1] !== 0xd8) return undefined;
  let i = 2;
  while (i + 4 <= b.length) {
    if (b[i] !== 0xff) return undefined;
    const marker = b[i + 1];
    if (marker === 0xff) {
      i++; // fill byte
      continue;
    }
    const length = u16(b, i + 2);
    // SOF0-SOF15 except DHT (C4), JPG (C8), DAC (CC); SOF55 (F7) is JPEG-LS.
    const sof =
      (marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc) || marker === 0xf7;
    if (sof) {
      if (i + 10 > b.length) return undefined;
      return { height: u16(b, i + 5), width: u16(b, i + 7), components: b[i + 9] };
    }
    if (marker === 0xda || length < 2) return undefined; // scan data before any frame header
    i += 2 + length;
  }
  return undefined;
}

/** JPEG 2000 (ITU T.800 A.5.1): SOC then SIZ; width and height are Xsiz - XOsiz and Ysiz - YOsiz. */
function j2kSize(b: Uint8Array): CodestreamSize | undefined {
  const at = b[0] === 0xff && b[1] === 0x4f ? 0 : jp2CodestreamOffset(b);
  if (at === undefined || at + 42 > b.length || b[at + 2] !== 0xff || b[at + 3] !== 0x51) return undefined;
  const siz = at + 4; // Lsiz
  const xsiz = u32(b, siz + 4);
  const ysiz = u32(b, siz + 8);
  const xo = u32(b, siz + 12);
  const yo = u32(b, siz + 16);
  return { width: xsiz - xo, height: ysiz - yo, components: u16(b, siz + 36) };
}

/** The JP2 file format (some encoders wrap the codestream): the contents of the 'jp2c' box. */
function jp2CodestreamOffset(b: Uint8Array): number | undefined {
  let i = 0;
  while (i + 8 <= b.length) {
    let len = u32(b, i);
    const type = String.fromCharCode(b[i + 4], b[i + 5], b[i + 6], b[i + 7]);
    let header = 8;
    if (len === 1) {
      if (i + 16 > b.length) return undefined;
      len = u32(b, i + 8) * 2 ** 32 + u32(b, i + 12);
      header = 16;
    }
    if (type === 'jp2c') return i + header;
    if (len === 0 || len < header) return undefined;
    i += len;
  }
  return undefined;
}
