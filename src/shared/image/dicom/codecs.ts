import { createRequire } from 'node:module';
import type { PixelCodec } from './transfer-syntax.js';

const require = createRequire(import.meta.url);

/** A decoded frame: samples as little-endian bytes, 8 or 16 bits each, interleaved. */
export interface DecodedFrame {
  bytes: Uint8Array;
  width: number;
  height: number;
  bitsPerSample: number;
  components: number;
}

/** What the frame decoder needs to know from the header. */
export interface FrameShape {
  rows: number;
  columns: number;
  bitsAllocated: number;
  bitsStored: number;
  samplesPerPixel: number;
  pixelRepresentation: number;
  planarConfiguration: number;
  photometric: string;
}

export class CodecError extends Error {}

// The @cornerstonejs/codec-* embind decoders share this shape.
interface WasmDecoder {
  getEncodedBuffer(length: number): Uint8Array;
  decode(): void;
  getFrameInfo(): { width: number; height: number; bitsPerSample: number; componentCount: number };
  getDecodedBuffer(): Uint8Array;
  delete(): void;
}
type WasmModule = Record<string, new () => WasmDecoder>;

const modules = new Map<string, Promise<WasmModule>>();
function wasm(pkg: string): Promise<WasmModule> {
  let m = modules.get(pkg);
  if (!m) {
    const factory = require(pkg) as (opts?: object) => Promise<WasmModule>;
    // The builds print progress (OpenJPEG's [INFO] lines) on stdout; a worker's stdout is not theirs.
    m = factory({ print: () => {}, printErr: () => {} });
    modules.set(pkg, m);
  }
  return m;
}

const WASM_DECODERS: Partial<Record<PixelCodec, [pkg: string, cls: string]>> = {
  'jpeg-baseline': ['@cornerstonejs/codec-libjpeg-turbo-8bit/decodewasmjs', 'JPEGDecoder'],
  'jpeg-ls': ['@cornerstonejs/codec-charls/decodewasmjs', 'JpegLSDecoder'],
  'jpeg-2000': ['@cornerstonejs/codec-openjpeg/decodewasmjs', 'J2KDecoder'],
};

/** Decodes one encapsulated frame with the maintained codec for its syntax. */
export async function decodeFrame(codec: PixelCodec, encoded: Uint8Array, shape: FrameShape): Promise<DecodedFrame> {
  if (codec === 'rle' || (codec === 'jpeg-baseline' && shape.bitsStored > 8))
    return decodeWithDcmjsCodecs(codec, encoded, shape);
  if (codec === 'jpeg-lossless') return decodeLossless(encoded, shape);
  const spec = WASM_DECODERS[codec];
  if (!spec) throw new CodecError(`no decoder for ${codec}`);
  const Decoder = (await wasm(spec[0]))[spec[1]];
  const decoder = new Decoder();
  try {
    decoder.getEncodedBuffer(encoded.length).set(encoded);
    decoder.decode();
    const info = decoder.getFrameInfo();
    return {
      bytes: decoder.getDecodedBuffer().slice(),
      width: info.width,
      height: info.height,
      bitsPerSample: info.bitsPerSample,
      components: info.componentCount,
    };
  } catch (err) {
    // A WASM abort can leave the instance unusable: the next frame gets a fresh one.
    modules.delete(spec[0]);
    throw new CodecError(codecMessage(err), { cause: err });
  } finally {
    try {
      decoder.delete();
    } catch {
      // the instance is gone with its memory
    }
  }
}

interface LosslessDecoder {
  decompress(buffer: ArrayBuffer, offset?: number, length?: number): ArrayBuffer;
  xDim: number;
  yDim: number;
  numComp: number;
}

/** JPEG Lossless (process 14, any selection value): jpeg-lossless-decoder-js, as Cornerstone uses it. */
async function decodeLossless(encoded: Uint8Array, shape: FrameShape): Promise<DecodedFrame> {
  const { Decoder } = require('jpeg-lossless-decoder-js') as { Decoder: new () => LosslessDecoder };
  const d = new Decoder();
  // A copy into a buffer of its own: a Buffer's slice() is a view into a shared pool, whose offset 0 is not the frame's.
  const copy = new Uint8Array(encoded);
  const out = d.decompress(copy.buffer, 0, copy.length);
  const bytes = new Uint8Array(out);
  const bitsPerSample = bytes.length / Math.max(1, d.xDim * d.yDim * d.numComp) > 1 ? 16 : 8;
  return {
    bytes,
    width: d.xDim || shape.columns,
    height: d.yDim || shape.rows,
    bitsPerSample,
    components: d.numComp || shape.samplesPerPixel,
  };
}

interface DcmjsCodecs {
  NativeCodecs: {
    initializeAsync(opts?: object): Promise<void>;
    isInitialized(): boolean;
    decodeRle(ctx: object): { getDecodedBuffer(): Uint8Array | undefined };
    decodeJpeg(ctx: object, p?: object): { getDecodedBuffer(): Uint8Array | undefined };
  };
  Context: new (attrs: object) => object;
}
let dcmjsCodecs: Promise<DcmjsCodecs> | undefined;
function nativeCodecs(): Promise<DcmjsCodecs> {
  dcmjsCodecs ??= (async () => {
    const m = require('dcmjs-codecs') as DcmjsCodecs;
    if (!m.NativeCodecs.isInitialized())
      await m.NativeCodecs.initializeAsync({ logCodecsInfo: false, logCodecsTrace: false });
    return m;
  })();
  return dcmjsCodecs;
}

/** RLE Lossless and 12-bit JPEG extended: dcmjs-codecs' WASM build (DCMTK's RLE, IJG libjpeg 12-bit). */
async function decodeWithDcmjsCodecs(codec: PixelCodec, encoded: Uint8Array, shape: FrameShape): Promise<DecodedFrame> {
  const { NativeCodecs, Context } = await nativeCodecs();
  const ctx = new Context({
    width: shape.columns,
    height: shape.rows,
    bitsAllocated: shape.bitsAllocated,
    bitsStored: shape.bitsStored,
    samplesPerPixel: shape.samplesPerPixel,
    pixelRepresentation: shape.pixelRepresentation,
    planarConfiguration: shape.planarConfiguration,
    photometricInterpretation: shape.photometric,
    encodedBuffer: encoded,
  });
  let decoded: Uint8Array | undefined;
  try {
    decoded = (
      codec === 'rle' ? NativeCodecs.decodeRle(ctx) : NativeCodecs.decodeJpeg(ctx, { convertColorspaceToRgb: true })
    ).getDecodedBuffer();
  } catch (err) {
    throw new CodecError(codecMessage(err));
  }
  if (!decoded) throw new CodecError(`${codec} decoder returned no pixels`);
  // RLE keeps the planes of a colour frame apart (planar configuration 1).
  return {
    bytes: decoded,
    width: shape.columns,
    height: shape.rows,
    bitsPerSample: shape.bitsAllocated,
    components: shape.samplesPerPixel,
  };
}

function codecMessage(err: unknown): string {
  if (typeof err === 'number') return `codec error (code ${err})`;
  return (err instanceof Error ? err.message : String(err)).split('\n')[0];
}
