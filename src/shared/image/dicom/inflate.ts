import dicomParser from 'dicom-parser';
import { constants, inflateRawSync } from 'node:zlib';
import { fmt, ImageDecodeError } from '../decode.js';
import { readHeader, type DicomHeader } from './header.js';

/** What the deflated data set may inflate to before its pixel data: headers are kilobytes, this is a bomb's bound. */
export const MAX_INFLATED_HEADER_BYTES = 64 * 1024 * 1024;
/** Ceiling on the pixel data a header may declare for inflation (frames × rows × columns × samples × bytes). */
export const MAX_INFLATED_PIXEL_BYTES = 512 * 1024 * 1024;
/** Allowed beyond the header's pixel data: trailing elements and padding. */
export const INFLATE_MARGIN_BYTES = 1024 * 1024;

/** The first probe's share of the deflated stream; each further probe doubles it. */
const FIRST_PROBE_BYTES = 4096;

/**
 * Deflated Explicit VR Little Endian: returns the file meta bytes followed by the inflated data set, never
 * inflating more than the data set's own header allows (its pixel data as rows × columns × samples × frames ×
 * bytes per sample, plus what precedes it and a margin). The header is read first from growing prefixes of
 * the stream, each inflated under a fixed ceiling, so a bomb fails with its numbers before it can fill memory.
 */
export function inflateDataSet(bytes: Uint8Array, position: number): Uint8Array {
  const deflated = bytes.subarray(position);
  const probe = probeHeader(bytes, position);
  const pixel = probe.ds.elements.x7fe00010;
  const h = readHeader(probe.ds);
  const before = pixel ? pixel.dataOffset - position : probe.inflated.length - position;
  const declared = pixelBytes(h);
  const what = `${h.columns}x${h.rows}x${h.samplesPerPixel}x${h.frames} x${h.bitsAllocated / 8}`;
  if (declared > MAX_INFLATED_PIXEL_BYTES) {
    throw new ImageDecodeError(
      `deflated pixel data of ${fmt(declared)} bytes (${what}) is over the inflation limit of ${fmt(MAX_INFLATED_PIXEL_BYTES)} bytes`,
    );
  }
  const cap = before + declared + INFLATE_MARGIN_BYTES;
  const tooBig = () =>
    new ImageDecodeError(
      `deflated pixel data inflates past ${fmt(cap)} bytes (${what} + ${fmt(before)} header + ${fmt(INFLATE_MARGIN_BYTES)} margin)`,
    );
  if (probe.complete) {
    if (probe.inflated.length - position > cap) throw tooBig();
    return probe.inflated;
  }
  let body: Buffer;
  try {
    body = inflateRawSync(deflated, { maxOutputLength: cap });
  } catch (err) {
    if (isTooLarge(err)) throw tooBig();
    throw new ImageDecodeError(`corrupt DICOM: deflated data set does not inflate: ${(err as Error).message}`);
  }
  return withPrefix(bytes, position, body);
}

/** Bytes of pixel data the header declares for all frames (odd lengths are padded to even). Pure. */
export function pixelBytes(
  h: Pick<DicomHeader, 'rows' | 'columns' | 'samplesPerPixel' | 'frames' | 'bitsAllocated'>,
): number {
  const n = Math.ceil((h.rows * h.columns * h.samplesPerPixel * h.frames * h.bitsAllocated) / 8);
  return n + (n % 2);
}

interface Probe {
  /** The data set parsed up to (not into) its pixel data. */
  ds: dicomParser.DataSet;
  /** Meta bytes + what was inflated so far. */
  inflated: Uint8Array;
  /** True when the whole stream was inflated. */
  complete: boolean;
}

/** Inflates longer and longer prefixes of the stream until the data set parses up to its pixel data (or ends). */
function probeHeader(bytes: Uint8Array, position: number): Probe {
  const deflated = bytes.subarray(position);
  for (let take = FIRST_PROBE_BYTES; ; take *= 2) {
    const complete = take >= deflated.length;
    let part: Buffer;
    try {
      // A prefix of the stream inflates as far as it goes (SYNC_FLUSH accepts the cut).
      part = inflateRawSync(deflated.subarray(0, take), {
        finishFlush: constants.Z_SYNC_FLUSH,
        maxOutputLength: MAX_INFLATED_HEADER_BYTES,
      });
    } catch (err) {
      if (isTooLarge(err))
        throw new ImageDecodeError(
          `deflated data set inflates past ${fmt(MAX_INFLATED_HEADER_BYTES)} bytes before its pixel data`,
        );
      throw new ImageDecodeError(`corrupt DICOM: deflated data set does not inflate: ${(err as Error).message}`);
    }
    const inflated = withPrefix(bytes, position, part);
    try {
      const ds = dicomParser.parseDicom(inflated, { untilTag: 'x7fe00010', inflater: () => inflated });
      if (ds.elements.x7fe00010 || complete) return { ds, inflated, complete };
    } catch (err) {
      // A prefix usually ends inside an element; the whole stream must parse.
      if (complete) throw err;
    }
  }
}

function withPrefix(bytes: Uint8Array, position: number, body: Uint8Array): Uint8Array {
  const out = new Uint8Array(position + body.length);
  out.set(bytes.subarray(0, position));
  out.set(body, position);
  return out;
}

function isTooLarge(err: unknown): boolean {
  return (err as NodeJS.ErrnoException)?.code === 'ERR_BUFFER_TOO_LARGE';
}
