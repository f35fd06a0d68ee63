import type { PredictionLine } from '../shared/run/types.js';

export interface SamplePick {
  /** Right and wrong calls for the X-ray grid. */
  grid: { prediction: PredictionLine; correct: boolean }[];
  /** Most confident pneumonia calls that were right, for Grad-CAM. */
  confident: PredictionLine[];
  /** Wrong calls, most confident first, for Grad-CAM. */
  errors: PredictionLine[];
}

const correct = (p: PredictionLine) => p.trueLabel === p.label;
const confidence = (p: PredictionLine) => Math.abs(p.probability - p.threshold);

/** Chooses report samples deterministically from the labelled predictions. Pure. */
export function pickSamples(predictions: readonly PredictionLine[], opts: { gridRight?: number; gridWrong?: number; cams?: number } = {}): SamplePick {
  const { gridRight = 8, gridWrong = 8, cams = 4 } = opts;
  const labelled = predictions.filter((p) => p.trueLabel !== undefined);
  const byConfidence = [...labelled].sort((a, b) => confidence(b) - confidence(a) || a.key.localeCompare(b.key));
  const wrong = byConfidence.filter((p) => !correct(p));
  const right = byConfidence.filter(correct);
  // Balance the right calls between the classes so both appear in the grid.
  const rightPos = right.filter((p) => p.label === 'PNEUMONIA');
  const rightNeg = right.filter((p) => p.label === 'NORMAL');
  const half = Math.ceil(gridRight / 2);
  const rightPick = [...rightPos.slice(0, half), ...rightNeg.slice(0, gridRight - Math.min(half, rightPos.length))].slice(0, gridRight);
  return {
    grid: [...rightPick.map((p) => ({ prediction: p, correct: true })), ...wrong.slice(0, gridWrong).map((p) => ({ prediction: p, correct: false }))],
    confident: rightPos.slice(0, cams),
    errors: wrong.slice(0, cams),
  };
}
