import sharp from 'sharp';
import { decodeDicom } from '../shared/image/dicom/decode-dicom.js';
import { isDicom } from '../shared/image/dicom/sniff.js';
import type { PredictionLine } from '../run/index.js';

/** Bytes sharp can draw: DICOM becomes a PNG of its first frame as the model saw it (pixels only, no header). */
export async function renderable(bytes: Uint8Array, size = 256): Promise<Uint8Array> {
  if (!isDicom(bytes)) return bytes;
  const { rgb } = await decodeDicom(bytes, size);
  return sharp(rgb, { raw: { width: size, height: size, channels: 3 } })
    .png()
    .toBuffer();
}

/** How the report names an image: DICOM by its UIDs (never the key, which a PACS export may build from patient data). Pure. */
export function imageName(p: Pick<PredictionLine, 'key' | 'uids'>): string {
  if (!p.uids) return p.key;
  return `SOP ${p.uids.sop ?? '?'} · series ${p.uids.series ?? '?'}`;
}
