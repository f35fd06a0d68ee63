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

function quantile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return NaN;
  const pos = (sorted.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo);
}

export function histogram(scores: readonly number[], bins = DEFAULT_BINS): number[] {
  const h = new Array<number>(bins).fill(0);
  for (const s of scores) h[Math.min(bins - 1, Math.max(0, Math.floor(s * bins)))]++;
  return h;
}

export function summarizeScores(scores: readonly number[], threshold: number, bins = DEFAULT_BINS): ScoreSummary {
  const sorted = [...scores].sort((a, b) => a - b);
  const n = sorted.length;
  return {
    n,
    mean: n ? sorted.reduce((s, x) => s + x, 0) / n : NaN,
    quantiles: [0.05, 0.25, 0.5, 0.75, 0.95].map((q) => quantile(sorted, q)) as ScoreSummary['quantiles'],
    positiveRate: n ? sorted.filter((s) => s >= threshold).length / n : NaN,
    histogram: histogram(scores, bins),
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
