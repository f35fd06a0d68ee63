import dicomParser from 'dicom-parser';
import type { DicomHeader } from './header.js';

/** The bytes of the first frame: raw samples for native syntaxes, the codestream for encapsulated ones. */
export function firstFrameBytes(ds: dicomParser.DataSet, h: DicomHeader): Uint8Array {
  const el = ds.elements.x7fe00010;
  if (el.encapsulatedPixelData) {
    const fragments = el.fragments ?? [];
    if (fragments.length === 0) throw new RangeError('encapsulated pixel data has no fragments');
    if (h.frames === 1) return dicomParser.readEncapsulatedPixelDataFromFragments(ds, el, 0, fragments.length);
    if ((el.basicOffsetTable ?? []).length > 0) return dicomParser.readEncapsulatedImageFrame(ds, el, 0);
    // No offset table: one fragment per frame is the common layout of multi-frame files.
    if (fragments.length === h.frames) return dicomParser.readEncapsulatedPixelDataFromFragments(ds, el, 0, 1);
    return dicomParser.readEncapsulatedImageFrame(ds, el, 0, dicomParser.createJPEGBasicOffsetTable(ds, el));
  }
  const frameBytes = (h.rows * h.columns * h.samplesPerPixel * h.bitsAllocated) / 8;
  if (el.length < frameBytes) throw new RangeError(`pixel data holds ${el.length} bytes, a ${h.columns}×${h.rows} frame needs ${frameBytes}`);
  return ds.byteArray.subarray(el.dataOffset, el.dataOffset + frameBytes);
}
