import dicomParser from 'dicom-parser';
import sharp from 'sharp';
import { ImageDecodeError, MAX_PIXELS, pixelLimitReason, type DecodedImage } from '../decode.js';
import { CodecError, decodeFrame, type DecodedFrame } from './codecs.js';
import { codestreamSize } from './codestream.js';
import { headerFlags } from './flags.js';
import { firstFrameBytes } from './frame.js';
import { readHeader, type DicomHeader } from './header.js';
import { inflateDataSet } from './inflate.js';
import { notAnImageReason } from './sop-class.js';
import { storedValues } from './stored-values.js';
import { transferSyntax, unsupportedSyntaxReason, type TransferSyntax } from './transfer-syntax.js';
import { toDisplay8 } from './voi.js';

/** What a DICOM object adds to its prediction: identity (UIDs only), header flags, frames. */
export interface DicomInfo {
  uids: { study?: string; series?: string; sop?: string };
  flags: string[];
  transferSyntax: string;
  /** Frames in the object; only the first is scored. */
  frames: number;
}

export interface DecodedDicom extends DecodedImage {
  dicom: DicomInfo;
}

const GREY = new Set(['MONOCHROME1', 'MONOCHROME2']);
const COLOUR = new Set(['RGB', 'YBR_FULL', 'YBR_FULL_422', 'YBR_RCT', 'YBR_ICT']);

/**
 * Decodes the first frame of a DICOM Part 10 object to size×size RGB as a viewer shows it (Modality LUT,
 * VOI LUT or window, MONOCHROME1 inversion), with its UIDs and header flags. Errors name the reason.
 */
export async function decodeDicom(bytes: Uint8Array, size = 224): Promise<DecodedDicom> {
  let meta: dicomParser.DataSet;
  try {
    meta = dicomParser.readPart10Header(bytes);
  } catch (err) {
    throw new ImageDecodeError(`corrupt DICOM file meta information: ${parserMessage(err)}`);
  }
  // The syntax decides how the data set itself is encoded: one this decoder does not know would parse as
  // garbage ("buffer overrun"), so it is named before the data set is read.
  const tsUid = meta.string('x00020010')?.replace(/\0/g, '').trim() || '1.2.840.10008.1.2';
  if (!transferSyntax(tsUid)) throw new ImageDecodeError(unsupportedSyntaxReason(tsUid));
  let ds: dicomParser.DataSet;
  try {
    // Deflated: inflated here, bounded by the data set's own header, and handed to the parser as is.
    const full =
      tsUid === DEFLATED ? inflateDataSet(bytes, (meta as dicomParser.DataSet & { position: number }).position) : bytes;
    ds = dicomParser.parseDicom(full, { inflater: () => full });
  } catch (err) {
    if (err instanceof ImageDecodeError) throw err;
    throw new ImageDecodeError(`corrupt DICOM: ${parserMessage(err)}`, { cause: err });
  }
  let h: DicomHeader;
  try {
    h = readHeader(ds);
  } catch (err) {
    throw new ImageDecodeError(`corrupt DICOM header: ${parserMessage(err)}`, { cause: err });
  }
  if (!h.hasPixelData) throw new ImageDecodeError(`DICOM ${notAnImageReason(h.sopClassUid)}`);
  const ts = transferSyntax(h.transferSyntaxUid);
  if (!ts) throw new ImageDecodeError(unsupportedSyntaxReason(h.transferSyntaxUid));
  checkShape(h);
  let frame: DecodedFrame;
  let rgb: Uint8Array;
  try {
    frame = await readFirstFrame(ds, h, ts);
    // Native samples and RLE segments (one per plane) keep the header's planar configuration; JPEG codecs interleave.
    rgb = await toModelInput(frame, h, size, ts.codec.startsWith('native') || ts.codec === 'rle');
  } catch (err) {
    // Whatever the pixel data does (too short, a codec's odd output), it fails this object alone.
    if (err instanceof ImageDecodeError) throw err;
    throw new ImageDecodeError(`corrupt DICOM pixel data (${ts.name}): ${(err as Error).message}`);
  }
  return {
    rgb,
    width: frame.width,
    height: frame.height,
    format: 'dicom',
    dicom: { uids: h.uids, flags: headerFlags(h), transferSyntax: ts.name, frames: h.frames },
  };
}

const DEFLATED = '1.2.840.10008.1.2.1.99';

/** dicom-parser throws strings, Errors, or { exception, dataSet }. */
function parserMessage(err: unknown): string {
  if (typeof err === 'string') return err;
  if (err instanceof Error) return err.message;
  const e = (err as { exception?: unknown })?.exception;
  return typeof e === 'string' ? e : e instanceof Error ? e.message : 'unreadable data set';
}

function checkShape(h: DicomHeader): void {
  const bad = (why: string) => new ImageDecodeError(`DICOM image is not supported: ${why}`);
  if (h.rows <= 0 || h.columns <= 0) throw bad(`no image size (rows ${h.rows}, columns ${h.columns})`);
  // Before any buffer the size of a frame is made.
  const over = pixelLimitReason(h.columns, h.rows, 'DICOM image');
  if (over) throw new ImageDecodeError(over);
  if (h.bitsAllocated !== 8 && h.bitsAllocated !== 16)
    throw bad(`${h.bitsAllocated} bits allocated (8 or 16 are read)`);
  if (h.samplesPerPixel === 1 && !GREY.has(h.photometric)) throw bad(`photometric interpretation ${h.photometric}`);
  if (h.samplesPerPixel === 3 && (!COLOUR.has(h.photometric) || h.bitsAllocated !== 8))
    throw bad(`${h.bitsAllocated}-bit ${h.photometric} colour`);
  if (h.samplesPerPixel !== 1 && h.samplesPerPixel !== 3) throw bad(`${h.samplesPerPixel} samples per pixel`);
}

async function readFirstFrame(ds: dicomParser.DataSet, h: DicomHeader, ts: TransferSyntax): Promise<DecodedFrame> {
  const raw = firstFrameBytes(ds, h, ts.codec === 'native-big-endian');
  if (ts.codec === 'native' || ts.codec === 'native-big-endian') {
    return {
      bytes: raw,
      width: h.columns,
      height: h.rows,
      bitsPerSample: h.bitsAllocated,
      components: h.samplesPerPixel,
    };
  }
  checkCodestream(ts, raw, h);
  try {
    return await decodeFrame(ts.codec, raw, h);
  } catch (err) {
    if (err instanceof CodecError)
      throw new ImageDecodeError(`DICOM ${ts.name} frame does not decode: ${err.message}`, { cause: err });
    throw err;
  }
}

/**
 * A codec allocates what its codestream's header declares, not what the DICOM header says: the two must agree
 * before it runs, so a codestream claiming a huge image fails with both sizes instead of filling memory.
 */
function checkCodestream(ts: TransferSyntax, raw: Uint8Array, h: DicomHeader): void {
  if (ts.codec === 'rle') return; // RLE decodes into the header's own frame size
  const cs = codestreamSize(ts.codec, raw);
  if (!cs)
    throw new ImageDecodeError(`corrupt DICOM pixel data (${ts.name}): no frame header at the start of the codestream`);
  const header = `the DICOM header says ${h.columns}×${h.rows}`;
  // A JPEG height of 0 is defined later by a DNL marker; the width still bounds it.
  if (cs.width !== h.columns || (cs.height !== h.rows && cs.height !== 0)) {
    const over = pixelLimitReason(cs.width, cs.height, `${ts.name} codestream`);
    throw new ImageDecodeError(
      `DICOM ${ts.name} codestream is ${cs.width}×${cs.height}, ${header}${over ? ` (${over})` : ''}`,
    );
  }
  if (cs.components !== h.samplesPerPixel)
    throw new ImageDecodeError(
      `DICOM ${ts.name} codestream has ${cs.components} components, ${header} with ${h.samplesPerPixel} samples per pixel`,
    );
}

/** The frame as the model's input: 8-bit display values, resized as sharp resizes every other format. */
async function toModelInput(frame: DecodedFrame, h: DicomHeader, size: number, asStored: boolean): Promise<Uint8Array> {
  const { width, height } = frame;
  const pixels = width * height;
  let channels: 1 | 3 = 1;
  let display: Uint8Array;
  if (frame.components === 3) {
    channels = 3;
    // JPEG codecs hand back interleaved RGB; samples as stored (native, RLE) may be planar or YBR_FULL.
    display =
      asStored && h.planarConfiguration === 1 ? interleave(frame.bytes, pixels) : frame.bytes.subarray(0, pixels * 3);
    if (asStored && h.photometric === 'YBR_FULL') display = ybrFullToRgb(display);
  } else {
    const stored = storedValues(frame.bytes, pixels, frame.bitsPerSample, h.bitsStored, h.pixelRepresentation === 1);
    display = toDisplay8(stored, {
      rescaleSlope: h.rescaleSlope,
      rescaleIntercept: h.rescaleIntercept,
      window: h.window,
      voiLutFunction: h.voiLutFunction,
      voiLut: h.voiLut,
      invert: h.photometric === 'MONOCHROME1',
    });
  }
  const { data } = await sharp(display, { raw: { width, height, channels }, limitInputPixels: MAX_PIXELS })
    .resize(size, size, { fit: 'fill' })
    .toColourspace('srgb')
    .raw({ depth: 'uchar' })
    .toBuffer({ resolveWithObject: true });
  if (data.length !== size * size * 3)
    throw new ImageDecodeError(`decoded to ${data.length} bytes, expected ${size * size * 3}`);
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}

function interleave(planar: Uint8Array, pixels: number): Uint8Array {
  const out = new Uint8Array(pixels * 3);
  for (let i = 0; i < pixels; i++) for (let c = 0; c < 3; c++) out[i * 3 + c] = planar[c * pixels + i];
  return out;
}

/** Native YBR_FULL samples to RGB (PS3.3 C.7.6.3.1.2). */
function ybrFullToRgb(ybr: Uint8Array): Uint8Array {
  const out = new Uint8Array(ybr.length);
  const clamp = (v: number) => (v < 0 ? 0 : v > 255 ? 255 : Math.round(v));
  for (let i = 0; i < ybr.length; i += 3) {
    const y = ybr[i],
      cb = ybr[i + 1] - 128,
      cr = ybr[i + 2] - 128;
    out[i] = clamp(y + 1.402 * cr);
    out[i + 1] = clamp(y - 0.344136 * cb - 0.714136 * cr);
    out[i + 2] = clamp(y + 1.772 * cb);
  }
  return out;
}
