/** Binary classification metrics; the positive class is PNEUMONIA. Pure functions. */

export interface ConfusionMatrix {
  tp: number;
  fp: number;
  tn: number;
  fn: number;
}

export interface BinaryMetrics {
  n: number;
  accuracy: number;
  precision: number;
  recall: number;
  specificity: number;
  f1: number;
  rocAuc: number | null;
  confusion: ConfusionMatrix;
}

export function confusionMatrix(truth: readonly boolean[], predicted: readonly boolean[]): ConfusionMatrix {
  if (truth.length !== predicted.length)
    throw new Error(`length mismatch: ${truth.length} labels, ${predicted.length} predictions`);
  const m = { tp: 0, fp: 0, tn: 0, fn: 0 };
  truth.forEach((t, i) => {
    const p = predicted[i];
    if (t && p) m.tp++;
    else if (!t && p) m.fp++;
    else if (!t && !p) m.tn++;
    else m.fn++;
  });
  return m;
}

const ratio = (a: number, b: number) => (b === 0 ? 0 : a / b);

/**
 * ROC AUC as the probability that a random positive scores above a random negative (ties count half),
 * computed from average ranks. Null when one class is absent.
 */
export function rocAuc(truth: readonly boolean[], scores: readonly number[]): number | null {
  const pos = truth.filter(Boolean).length;
  const neg = truth.length - pos;
  if (pos === 0 || neg === 0) return null;
  const order = scores.map((s, i) => [s, i] as const).sort((a, b) => a[0] - b[0]);
  const ranks = new Array<number>(scores.length);
  for (let i = 0; i < order.length;) {
    let j = i;
    while (j + 1 < order.length && order[j + 1][0] === order[i][0]) j++;
    const avg = (i + j) / 2 + 1;
    for (let k = i; k <= j; k++) ranks[order[k][1]] = avg;
    i = j + 1;
  }
  const posRankSum = truth.reduce((s, t, i) => (t ? s + ranks[i] : s), 0);
  return (posRankSum - (pos * (pos + 1)) / 2) / (pos * neg);
}

export type RateName = 'accuracy' | 'precision' | 'recall' | 'specificity' | 'f1';
export type Rates = Pick<BinaryMetrics, RateName>;

/** The threshold metrics of a confusion matrix (counts may be weights); 0 where a denominator is 0. */
export function confusionRates(c: ConfusionMatrix): Rates {
  const precision = ratio(c.tp, c.tp + c.fp);
  const recall = ratio(c.tp, c.tp + c.fn);
  return {
    accuracy: ratio(c.tp + c.tn, c.tp + c.tn + c.fp + c.fn),
    precision,
    recall,
    specificity: ratio(c.tn, c.tn + c.fp),
    f1: ratio(2 * precision * recall, precision + recall),
  };
}

/** `decision` is a threshold on the scores, or the positive/negative calls already made. */
export function binaryMetrics(
  truth: readonly boolean[],
  scores: readonly number[],
  decision: number | readonly boolean[],
): BinaryMetrics {
  const predicted = typeof decision === 'number' ? scores.map((s) => s >= decision) : decision;
  const c = confusionMatrix(truth, predicted);
  return { n: truth.length, ...confusionRates(c), rocAuc: rocAuc(truth, scores), confusion: c };
}

/**
 * The rate, or null where it is undefined because its denominator is zero (precision with no positive
 * calls, recall with no positive labels, ...); binaryMetrics stores 0 there. Pure.
 */
export function definedRate(m: Pick<BinaryMetrics, 'confusion' | RateName>, name: RateName): number | null {
  const { tp, fp, tn, fn } = m.confusion;
  const denominator = {
    accuracy: tp + fp + tn + fn,
    precision: tp + fp,
    recall: tp + fn,
    specificity: tn + fp,
    f1: 2 * tp + fp + fn,
  }[name];
  return denominator === 0 ? null : m[name];
}

export interface CurvePoint {
  /** Scores >= threshold are called positive. */
  threshold: number;
  /** False positive rate (ROC x). */
  fpr: number;
  /** True positive rate = recall (ROC y, PR x). */
  tpr: number;
  /** PR y; 1 when nothing is called positive. */
  precision: number;
}

/**
 * ROC and precision-recall points from the "call nothing" end down through every distinct score, from the
 * positives' and the negatives' scores each sorted ascending (typed arrays: no object per key). Both must
 * be non-empty and free of NaN. Lazy, so a caller can thin the curve without holding all its points.
 */
export function* curveFromSorted(pos: ArrayLike<number>, neg: ArrayLike<number>): Generator<CurvePoint> {
  const P = pos.length;
  const N = neg.length;
  yield { threshold: Infinity, fpr: 0, tpr: 0, precision: 1 };
  let i = P - 1; // the highest positive not yet called
  let j = N - 1;
  while (i >= 0 || j >= 0) {
    const s = Math.max(i >= 0 ? pos[i] : -Infinity, j >= 0 ? neg[j] : -Infinity);
    while (i >= 0 && pos[i] === s) i--;
    while (j >= 0 && neg[j] === s) j--;
    const tp = P - 1 - i;
    const fp = N - 1 - j;
    yield { threshold: s, fpr: fp / N, tpr: tp / P, precision: tp / (tp + fp) };
  }
}

/** The operating point of the calls counted in `c` at `threshold`. Null when one class is absent. */
export function operatingPoint(c: ConfusionMatrix, threshold: number): CurvePoint | null {
  const pos = c.tp + c.fn;
  const neg = c.fp + c.tn;
  if (pos === 0 || neg === 0) return null;
  return { threshold, fpr: c.fp / neg, tpr: c.tp / pos, precision: c.tp + c.fp === 0 ? 1 : c.tp / (c.tp + c.fp) };
}
