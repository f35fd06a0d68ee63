import { decodeToRgb, ImageDecodeError, type DecodedImage } from './decode.js';
import { decodeDicom, type DicomInfo } from './dicom/decode-dicom.js';
import { isDicom } from './dicom/sniff.js';
import { DEFAULT_QUALITY, qualityProblem, type QualityLimits } from './quality.js';

export interface ModelInput extends DecodedImage {
  /** Present for DICOM objects: UIDs, header flags, frame count. */
  dicom?: DicomInfo;
}

/** Any object to size×size RGB: DICOM by content ('DICM' at 128), everything else through sharp. Throws ImageDecodeError. */
export async function decodeImage(bytes: Uint8Array, size = 224): Promise<ModelInput> {
  return isDicom(bytes) ? decodeDicom(bytes, size) : decodeToRgb(bytes, size);
}

/**
 * Any object to the model's size×size RGB input (decodeImage), then the quality guard. Throws
 * ImageDecodeError with the reason.
 */
export async function decodeInput(
  bytes: Uint8Array,
  size = 224,
  quality: QualityLimits = DEFAULT_QUALITY,
): Promise<ModelInput> {
  const img = await decodeImage(bytes, size);
  const problem = qualityProblem(img, quality);
  if (problem) throw new ImageDecodeError(problem);
  return img;
}
