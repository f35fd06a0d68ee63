import dicomParser from 'dicom-parser';
import type { DicomHeader } from './header.js';
import { swap16 } from './stored-values.js';

/**
 * The bytes of the first frame: raw little-endian samples for native syntaxes, the codestream for
 * encapsulated ones. Lengths are checked against the header before anything is copied.
 */
export function firstFrameBytes(ds: dicomParser.DataSet, h: DicomHeader, bigEndian = false): Uint8Array {
  const el = ds.elements.x7fe00010;
  if (el.encapsulatedPixelData) {
    const fragments = el.fragments ?? [];
    if (fragments.length === 0) throw new RangeError('encapsulated pixel data has no fragments');
    // Every frame starts a fragment of its own (PS3.5 A.4).
    if (h.frames > fragments.length)
      throw new RangeError(`the header says ${h.frames} frames, the pixel data holds ${fragments.length} fragments`);
    if (h.frames === 1) return dicomParser.readEncapsulatedPixelDataFromFragments(ds, el, 0, fragments.length);
    if ((el.basicOffsetTable ?? []).length > 0) return dicomParser.readEncapsulatedImageFrame(ds, el, 0);
    // No offset table: one fragment per frame is the common layout of multi-frame files.
    if (fragments.length === h.frames) return dicomParser.readEncapsulatedPixelDataFromFragments(ds, el, 0, 1);
    return dicomParser.readEncapsulatedImageFrame(ds, el, 0, dicomParser.createJPEGBasicOffsetTable(ds, el));
  }
  const frameBytes = (h.rows * h.columns * h.samplesPerPixel * h.bitsAllocated) / 8;
  const size = `${h.columns}×${h.rows}`;
  if (el.length < frameBytes)
    throw new RangeError(`pixel data holds ${el.length} bytes, a ${size} frame needs ${frameBytes}`);
  if (el.length < frameBytes * h.frames)
    throw new RangeError(
      `pixel data holds ${el.length} bytes, ${h.frames} ${size} frames need ${frameBytes * h.frames}`,
    );
  if (!bigEndian || !inWords(el.vr, h.bitsAllocated))
    return ds.byteArray.subarray(el.dataOffset, el.dataOffset + frameBytes);
  // Big endian: the value is a run of 16-bit words, so 8-bit samples are swapped pairwise too (PS3.5 8.1.1).
  const even = frameBytes + (frameBytes % 2);
  return swap16(ds.byteArray.subarray(el.dataOffset, el.dataOffset + Math.min(even, el.length))).subarray(
    0,
    frameBytes,
  );
}

/**
 * Whether native pixel data is a value of 16-bit words: OW always (8-bit samples in Explicit VR Big Endian are
 * written OW by DCMTK and GDCM), and 16-bit samples whatever the VR says. OB is a byte stream. Pure.
 */
export function inWords(vr: string | undefined, bitsAllocated: number): boolean {
  return bitsAllocated > 8 || vr !== 'OB';
}
