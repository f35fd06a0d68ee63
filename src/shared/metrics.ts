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
  if (truth.length !== predicted.length) throw new Error(`length mismatch: ${truth.length} labels, ${predicted.length} predictions`);
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
  for (let i = 0; i < order.length; ) {
    let j = i;
    while (j + 1 < order.length && order[j + 1][0] === order[i][0]) j++;
    const avg = (i + j) / 2 + 1;
    for (let k = i; k <= j; k++) ranks[order[k][1]] = avg;
    i = j + 1;
  }
  const posRankSum = truth.reduce((s, t, i) => (t ? s + ranks[i] : s), 0);
  return (posRankSum - (pos * (pos + 1)) / 2) / (pos * neg);
}

/** `decision` is a threshold on the scores, or the positive/negative calls already made. */
export function binaryMetrics(truth: readonly boolean[], scores: readonly number[], decision: number | readonly boolean[]): BinaryMetrics {
  const predicted = typeof decision === 'number' ? scores.map((s) => s >= decision) : decision;
  const c = confusionMatrix(truth, predicted);
  const precision = ratio(c.tp, c.tp + c.fp);
  const recall = ratio(c.tp, c.tp + c.fn);
  return {
    n: truth.length,
    accuracy: ratio(c.tp + c.tn, truth.length),
    precision,
    recall,
    specificity: ratio(c.tn, c.tn + c.fp),
    f1: ratio(2 * precision * recall, precision + recall),
    rocAuc: rocAuc(truth, scores),
    confusion: c,
  };
}
