/** Score-distribution summaries and drift statistics between two of them. Pure. */

export interface ScoreSummary {
  n: number;
  mean: number;
  /** p05, p25, p50, p75, p95 */
  quantiles: [number, number, number, number, number];
  /** Share of scores called positive at the model threshold. */
  positiveRate: number;
  /** Counts in `bins` equal-width bins over [0, 1]. */
  histogram: number[];
}

export const DEFAULT_BINS = 20;

function quantile(sorted: ArrayLike<number>, q: number): number {
  if (sorted.length === 0) return NaN;
  const pos = (sorted.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo);
}

export function histogram(scores: ArrayLike<number>, bins = DEFAULT_BINS): number[] {
  const h = new Array<number>(bins).fill(0);
  for (let i = 0; i < scores.length; i++) h[Math.min(bins - 1, Math.max(0, Math.floor(scores[i] * bins)))]++;
  return h;
}

/** `scores` may be a plain array or a typed one (a run's Float32 scores); it is left as it is. */
export function summarizeScores(scores: ArrayLike<number>, threshold: number, bins = DEFAULT_BINS): ScoreSummary {
  const sorted = Float64Array.from(scores).sort();
  const n = sorted.length;
  let sum = 0;
  let positive = 0;
  for (const s of sorted) {
    sum += s;
    if (s >= threshold) positive++;
  }
  return {
    n,
    mean: n ? sum / n : NaN,
    quantiles: [0.05, 0.25, 0.5, 0.75, 0.95].map((q) => quantile(sorted, q)) as ScoreSummary['quantiles'],
    positiveRate: n ? positive / n : NaN,
    histogram: histogram(sorted, bins),
  };
}

const shares = (h: readonly number[]) => {
  const total = h.reduce((s, x) => s + x, 0);
  return h.map((x) => (total ? x / total : 0));
};

/** Population stability index of `actual` against `expected` (same bins); empty bins get a small floor. */
export function psi(expected: readonly number[], actual: readonly number[], floor = 1e-4): number {
  if (expected.length !== actual.length) throw new Error(`psi: ${expected.length} vs ${actual.length} bins`);
  const e = shares(expected);
  const a = shares(actual);
  return e.reduce((s, ei, i) => {
    const p = Math.max(ei, floor);
    const q = Math.max(a[i], floor);
    return s + (q - p) * Math.log(q / p);
  }, 0);
}

/** Kolmogorov-Smirnov statistic: the largest gap between the two binned cumulative distributions. */
export function ksStatistic(expected: readonly number[], actual: readonly number[]): number {
  if (expected.length !== actual.length) throw new Error(`ks: ${expected.length} vs ${actual.length} bins`);
  const e = shares(expected);
  const a = shares(actual);
  let ce = 0;
  let ca = 0;
  let max = 0;
  for (let i = 0; i < e.length; i++) {
    ce += e[i];
    ca += a[i];
    max = Math.max(max, Math.abs(ce - ca));
  }
  return max;
}
