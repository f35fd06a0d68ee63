/**
 * Seeded percentile bootstrap intervals for binary metrics at a fixed threshold, resampling groups
 * (patients) rather than images: a cluster bootstrap, so correlated images of one patient do not
 * narrow the interval. Pure. Metric definitions are those of metrics.ts.
 */
import { binaryMetrics, confusionRates, type ConfusionMatrix } from './metrics.js';
import { seededRandom } from './sampling.js';

export const METRIC_NAMES = ['accuracy', 'sensitivity', 'specificity', 'precision', 'f1', 'rocAuc'] as const;
export type MetricName = (typeof METRIC_NAMES)[number];

/** A point estimate with its interval; null where the metric is undefined (e.g. AUC with one class). */
export interface Interval {
  value: number | null;
  lo: number | null;
  hi: number | null;
}

export interface BootstrapOptions {
  /** Replicates (default 2000). */
  replicates?: number;
  /** Seed of the resampling (default 42). */
  seed?: number;
  /** Two-sided coverage (default 0.95). */
  level?: number;
}

export interface BootstrapResult {
  threshold: number;
  n: number;
  /** Groups resampled (images when no groups were given). */
  groups: number;
  replicates: number;
  level: number;
  seed: number;
  metrics: Record<MetricName, Interval>;
}

/** Linear-interpolation quantile (type 7) of sorted values. */
export function quantileSorted(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) throw new Error('quantile of no values');
  const h = (sorted.length - 1) * q;
  const lo = Math.floor(h);
  return sorted[lo] + (h - lo) * ((sorted[Math.min(lo + 1, sorted.length - 1)] ?? sorted[lo]) - sorted[lo]);
}

/** Scores sorted once with their tie blocks, so the weighted AUC of any replicate is one O(n) pass. */
interface RankedScores {
  order: Int32Array;
  blockEnd: Int32Array;
}

function rankScores(scores: readonly number[]): RankedScores {
  const order = Int32Array.from(scores.keys()).sort((a, b) => scores[a] - scores[b]);
  const blockEnd = new Int32Array(order.length);
  for (let i = order.length - 1; i >= 0; i--) {
    blockEnd[i] = i + 1 < order.length && scores[order[i + 1]] === scores[order[i]] ? blockEnd[i + 1] : i + 1;
  }
  return { order, blockEnd };
}

/**
 * AUC with per-item weights: P(score of a positive > score of a negative), ties half, each pair weighted
 * by the product of the weights. With unit weights it equals metrics.ts rocAuc. Null with one class.
 */
function weightedAuc(r: RankedScores, truth: readonly boolean[], w: Float64Array): number | null {
  let negBelow = 0;
  let sum = 0;
  let wPos = 0;
  for (let i = 0; i < r.order.length;) {
    const end = r.blockEnd[i];
    let bp = 0;
    let bn = 0;
    for (let k = i; k < end; k++) {
      const j = r.order[k];
      if (truth[j]) bp += w[j];
      else bn += w[j];
    }
    sum += bp * (negBelow + bn / 2);
    negBelow += bn;
    wPos += bp;
    i = end;
  }
  return wPos === 0 || negBelow === 0 ? null : sum / (wPos * negBelow);
}

/** weightedAuc for one weighting (ranks computed here); for tests and one-off use. */
export function weightedRocAuc(
  truth: readonly boolean[],
  scores: readonly number[],
  weights: ArrayLike<number>,
): number | null {
  return weightedAuc(rankScores(scores), truth, Float64Array.from(weights));
}

/** Metric values of one weighted sample; null where a denominator is 0 (the replicate is skipped for it). */
function metricsOf(c: ConfusionMatrix, auc: number | null): Record<MetricName, number | null> {
  const r = confusionRates(c);
  const pos = c.tp + c.fn;
  const neg = c.tn + c.fp;
  return {
    accuracy: pos + neg > 0 ? r.accuracy : null,
    sensitivity: pos > 0 ? r.recall : null,
    specificity: neg > 0 ? r.specificity : null,
    precision: c.tp + c.fp > 0 ? r.precision : null,
    f1: c.tp > 0 ? r.f1 : null,
    rocAuc: auc,
  };
}

/** Group index of each item (each item its own group when `groups` is absent). */
export function groupIndex(n: number, groups?: readonly string[]): { of: Int32Array; count: number } {
  if (!groups) return { of: Int32Array.from({ length: n }, (_, i) => i), count: n };
  if (groups.length !== n) throw new Error(`bootstrap: ${groups.length} groups for ${n} items`);
  const ids = new Map<string, number>();
  const of = Int32Array.from(groups, (g) => {
    let k = ids.get(g);
    if (k === undefined) ids.set(g, (k = ids.size));
    return k;
  });
  return { of, count: ids.size };
}

/**
 * Per-item weights of each replicate: every group is drawn `count` times with replacement and an
 * item's weight is how often its group was drawn. Calls `each` once per replicate.
 */
export function clusterReplicates(
  n: number,
  groups: readonly string[] | undefined,
  replicates: number,
  seed: number,
  each: (weights: Float64Array, replicate: number) => void,
): number {
  const { of, count } = groupIndex(n, groups);
  const rand = seededRandom(seed);
  const drawn = new Float64Array(count);
  const w = new Float64Array(n);
  for (let b = 0; b < replicates; b++) {
    drawn.fill(0);
    for (let k = 0; k < count; k++) drawn[Math.floor(rand() * count)]++;
    for (let i = 0; i < n; i++) w[i] = drawn[of[i]];
    each(w, b);
  }
  return count;
}

function interval(value: number | null, samples: number[], level: number): Interval {
  if (value === null || samples.length === 0) return { value, lo: null, hi: null };
  samples.sort((a, b) => a - b);
  const a = (1 - level) / 2;
  return { value, lo: quantileSorted(samples, a), hi: quantileSorted(samples, 1 - a) };
}

/**
 * Percentile bootstrap intervals of accuracy, sensitivity, specificity, precision, F1 (at `threshold`,
 * positive iff score >= threshold) and ROC AUC, resampling `groups` (e.g. patient ids). Point values
 * are binaryMetrics on the sample itself.
 */
export function bootstrapMetrics(
  truth: readonly boolean[],
  scores: readonly number[],
  threshold: number,
  groups?: readonly string[],
  opts: BootstrapOptions = {},
): BootstrapResult {
  const n = truth.length;
  if (scores.length !== n) throw new Error(`bootstrap: ${n} labels, ${scores.length} scores`);
  const replicates = opts.replicates ?? 2000;
  const level = opts.level ?? 0.95;
  const seed = opts.seed ?? 42;
  const point = binaryMetrics(truth, scores, threshold);
  const pointValues = metricsOf(point.confusion, point.rocAuc);
  const ranked = rankScores(scores);
  const called = scores.map((s) => s >= threshold);
  const samples = Object.fromEntries(METRIC_NAMES.map((m) => [m, [] as number[]])) as Record<MetricName, number[]>;
  const count = clusterReplicates(n, groups, replicates, seed, (w) => {
    const c = { tp: 0, fp: 0, tn: 0, fn: 0 };
    for (let i = 0; i < n; i++) {
      if (w[i] === 0) continue;
      if (truth[i]) {
        if (called[i]) c.tp += w[i];
        else c.fn += w[i];
      } else if (called[i]) c.fp += w[i];
      else c.tn += w[i];
    }
    const v = metricsOf(c, weightedAuc(ranked, truth, w));
    for (const m of METRIC_NAMES) {
      const x = v[m];
      if (x !== null) samples[m].push(x);
    }
  });
  const metrics = Object.fromEntries(
    METRIC_NAMES.map((m) => [m, interval(pointValues[m], samples[m], level)]),
  ) as Record<MetricName, Interval>;
  return { threshold, n, groups: count, replicates, level, seed, metrics };
}

/**
 * Paired cluster bootstrap of AUC(b) - AUC(a) on the same images: both models are scored on each
 * replicate, so the interval of the difference accounts for their correlation.
 */
export function pairedAucDifference(
  truth: readonly boolean[],
  scoresA: readonly number[],
  scoresB: readonly number[],
  groups?: readonly string[],
  opts: BootstrapOptions = {},
): Interval {
  const ra = rankScores(scoresA);
  const rb = rankScores(scoresB);
  const ones = new Float64Array(truth.length).fill(1);
  const a0 = weightedAuc(ra, truth, ones);
  const b0 = weightedAuc(rb, truth, ones);
  const diffs: number[] = [];
  clusterReplicates(truth.length, groups, opts.replicates ?? 2000, opts.seed ?? 42, (w) => {
    const a = weightedAuc(ra, truth, w);
    const b = weightedAuc(rb, truth, w);
    if (a !== null && b !== null) diffs.push(b - a);
  });
  return interval(a0 === null || b0 === null ? null : b0 - a0, diffs, opts.level ?? 0.95);
}
