import type { DicomInfo } from '../shared/image/dicom/decode-dicom.js';
import { type PredictionLine, IN_TRAINING_FLAG, OOD_FLAG } from '../run/index.js';

export { OOD_FLAG };

export type PredictionExtras = Pick<PredictionLine, 'uids' | 'flags' | 'ood' | 'frames'>;

/**
 * What a prediction line adds beyond the score: DICOM UIDs (identity without patient attributes),
 * header flags and the OOD flag, the OOD distance, and the frame count of a multi-frame object. Pure.
 */
export function predictionExtras(
  dicom: DicomInfo | undefined,
  ood: number | undefined,
  oodThreshold: number | undefined,
  inTrainingSet = false,
): PredictionExtras {
  const flags = [...(dicom?.flags ?? [])];
  if (ood !== undefined && oodThreshold !== undefined && ood > oodThreshold) flags.push(OOD_FLAG);
  if (inTrainingSet) flags.push(IN_TRAINING_FLAG);
  return {
    ...(dicom ? { uids: dicom.uids } : {}),
    ...(flags.length ? { flags } : {}),
    ...(ood !== undefined ? { ood: Math.round(ood * 1000) / 1000 } : {}),
    ...(dicom && dicom.frames > 1 ? { frames: dicom.frames } : {}),
  };
}

/** The flags --skip-flagged fails an image for: what the model was not trained on (not in-training-set). Pure. */
export function skippableFlags(flags: readonly string[] | undefined): string[] | undefined {
  const skip = flags?.filter((f) => f !== IN_TRAINING_FLAG);
  return skip?.length ? skip : undefined;
}

/** The failure reason of a flagged image under --skip-flagged. Pure. */
export const flaggedReason = (flags: readonly string[]): string => `flagged (--skip-flagged): ${flags.join(', ')}`;
