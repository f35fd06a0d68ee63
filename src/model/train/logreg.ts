/**
 * The baseline every recipe must beat: plain L2-regularised logistic regression on standardised
 * features, its strength chosen by patient-grouped, class-stratified K-fold cross-validation
 * (minimum pooled held-out log-loss), fitted full-batch with L-BFGS. Pure.
 */
import { seededRandom, shuffled } from '../../shared/sampling.js';
import { columnStats } from './head-train.js';
import { minimizeLbfgs, type LbfgsOptions } from './lbfgs.js';
import { standardise } from './standardise.js';

/** Penalty strengths tried by default (on the mean log-loss: loss + lambda/2 * ||w||^2, bias unpenalised). */
export const DEFAULT_LAMBDAS = [1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 0.1, 0.3, 1, 3];

export interface LogRegModel {
  /** Weights on standardised features ((x - mean) / std); foldNorm (fold-norm.ts) folds them to raw features. */
  kernel: Float32Array;
  bias: number;
  lambda: number;
  iterations: number;
  converged: boolean;
}

export interface LogRegCVOptions {
  /** Penalty grid (default DEFAULT_LAMBDAS). */
  lambdas?: readonly number[];
  /** Folds (default 5; fewer when there are fewer groups). */
  folds?: number;
  seed?: number;
  lbfgs?: LbfgsOptions;
}

export interface GridPoint {
  lambda: number;
  cvLoss: number;
  foldLoss: number[];
}

export interface LogRegCVResult extends LogRegModel {
  mean: Float32Array;
  std: Float32Array;
  cvLoss: number;
  grid: GridPoint[];
  folds: number;
  /** Fold of each row (rows of one group share a fold). */
  foldOf: Int32Array;
}

const log1pExp = (z: number): number => (z > 0 ? z + Math.log1p(Math.exp(-z)) : Math.log1p(Math.exp(z)));
const sigmoid = (z: number): number => (z >= 0 ? 1 / (1 + Math.exp(-z)) : Math.exp(z) / (1 + Math.exp(z)));

/** Mean log-loss of labels y under logits from weights (kernel, bias) on row-major x. */
export function logLoss(
  x: Float32Array,
  y: Uint8Array,
  dim: number,
  kernel: ArrayLike<number>,
  bias: number,
  rows?: Int32Array,
): number {
  const idx = rows ?? Int32Array.from(y.keys());
  let s = 0;
  for (const i of idx) {
    let z = bias;
    for (let j = 0, o = i * dim; j < dim; j++) z += x[o + j] * kernel[j];
    s += log1pExp(z) - y[i] * z;
  }
  return s / idx.length;
}

/** Fits one penalty strength on already standardised rows (all rows, or `rows`), warm-started from `init`. */
export function fitLogReg(
  x: Float32Array,
  y: Uint8Array,
  dim: number,
  lambda: number,
  opts: { rows?: Int32Array; init?: Float64Array; lbfgs?: LbfgsOptions } = {},
): LogRegModel & { theta: Float64Array } {
  const rows = opts.rows ?? Int32Array.from(y.keys());
  const n = rows.length;
  const z = new Float64Array(n);
  const fg = (theta: Float64Array, g: Float64Array): number => {
    const b = theta[dim];
    let loss = 0;
    for (let r = 0; r < n; r++) {
      const o = rows[r] * dim;
      let s = b;
      for (let j = 0; j < dim; j++) s += x[o + j] * theta[j];
      loss += log1pExp(s) - y[rows[r]] * s;
      z[r] = (sigmoid(s) - y[rows[r]]) / n;
    }
    g.fill(0);
    for (let r = 0; r < n; r++) {
      const o = rows[r] * dim;
      const e = z[r];
      for (let j = 0; j < dim; j++) g[j] += x[o + j] * e;
      g[dim] += e;
    }
    let pen = 0;
    for (let j = 0; j < dim; j++) {
      pen += theta[j] * theta[j];
      g[j] += lambda * theta[j];
    }
    return loss / n + (lambda / 2) * pen;
  };
  const r = minimizeLbfgs(fg, opts.init ?? new Float64Array(dim + 1), { maxIter: 1000, gradTol: 1e-6, ...opts.lbfgs });
  return {
    kernel: Float32Array.from(r.x.subarray(0, dim)),
    bias: r.x[dim],
    lambda,
    iterations: r.iterations,
    converged: r.converged,
    theta: r.x,
  };
}

/**
 * K folds of whole groups, stratified: each group counts for the class most of its rows have; per
 * class, groups (seeded shuffle, then largest first) go to the fold with the fewest rows of that class.
 */
export function groupedFolds(y: Uint8Array, groups: readonly string[], k: number, seed: number): Int32Array {
  if (groups.length !== y.length) throw new Error(`${groups.length} groups for ${y.length} rows`);
  const rowsOf = new Map<string, number[]>();
  groups.forEach((g, i) => {
    const r = rowsOf.get(g);
    if (r) r.push(i);
    else rowsOf.set(g, [i]);
  });
  if (rowsOf.size < k) throw new Error(`${rowsOf.size} groups cannot fill ${k} folds`);
  const foldOf = new Int32Array(y.length);
  const rand = seededRandom(seed);
  for (const cls of [0, 1]) {
    const mine = [...rowsOf.keys()].sort().filter((g) => {
      const r = rowsOf.get(g)!;
      const pos = r.reduce((s, i) => s + y[i], 0);
      return (pos * 2 > r.length ? 1 : 0) === cls;
    });
    const order = shuffled(mine, rand).sort((a, b) => rowsOf.get(b)!.length - rowsOf.get(a)!.length);
    const load = new Array<number>(k).fill(0);
    for (const g of order) {
      const f = load.indexOf(Math.min(...load));
      for (const i of rowsOf.get(g)!) foldOf[i] = f;
      load[f] += rowsOf.get(g)!.length;
    }
  }
  return foldOf;
}

/**
 * fitLogRegCV: standardises with the training rows' statistics (per fold for CV, all rows for the
 * final fit), picks lambda from the grid by grouped K-fold CV log-loss (ties: the stronger penalty),
 * and refits on all rows. x is row-major n x dim, y 0/1, groups one id per row (e.g. patient).
 */
export function fitLogRegCV(
  x: Float32Array,
  y: Uint8Array,
  groups: readonly string[],
  dim: number,
  opts: LogRegCVOptions = {},
): LogRegCVResult {
  const n = y.length;
  if (x.length !== n * dim) throw new Error(`logreg: ${x.length} values do not fit ${n} rows x ${dim}`);
  const lambdas = [...(opts.lambdas ?? DEFAULT_LAMBDAS)].sort((a, b) => b - a); // strong -> weak, warm starts
  const k = Math.min(opts.folds ?? 5, new Set(groups).size);
  if (k < 2) throw new Error('logreg: cross-validation needs at least 2 groups');
  const foldOf = groupedFolds(y, groups, k, opts.seed ?? 42);
  const foldLoss = lambdas.map(() => new Array<number>(k).fill(0));
  const heldOut = new Float64Array(lambdas.length);
  for (let f = 0; f < k; f++) {
    const trainRows = Int32Array.from(y.keys()).filter((i) => foldOf[i] !== f);
    const testRows = Int32Array.from(y.keys()).filter((i) => foldOf[i] === f);
    const sub = {
      x: new Float32Array(trainRows.length * dim),
      y: new Uint8Array(trainRows.length),
      n: trainRows.length,
      dim,
    };
    trainRows.forEach((i, r) => {
      sub.x.set(x.subarray(i * dim, (i + 1) * dim), r * dim);
      sub.y[r] = y[i];
    });
    const { mean, std } = columnStats(sub);
    const xs = standardise({ x, y, n, dim }, mean, std).x;
    let init: Float64Array | undefined;
    lambdas.forEach((lambda, li) => {
      const m = fitLogReg(xs, y, dim, lambda, { rows: trainRows, init, lbfgs: opts.lbfgs });
      init = m.theta;
      foldLoss[li][f] = logLoss(xs, y, dim, m.kernel, m.bias, testRows);
      heldOut[li] += foldLoss[li][f] * testRows.length;
    });
  }
  const grid = lambdas.map((lambda, li) => ({ lambda, cvLoss: heldOut[li] / n, foldLoss: foldLoss[li] }));
  const best = grid.reduce((a, b) => (b.cvLoss < a.cvLoss ? b : a)); // strong first: ties keep the stronger penalty
  const { mean, std } = columnStats({ x, y, n, dim });
  const xs = standardise({ x, y, n, dim }, mean, std).x;
  const { theta: _t, ...model } = fitLogReg(xs, y, dim, best.lambda, { lbfgs: opts.lbfgs });
  return { ...model, mean, std, cvLoss: best.cvLoss, grid: grid.sort((a, b) => a.lambda - b.lambda), folds: k, foldOf };
}

/** P(positive) of raw rows under a CV fit (standardises with its mean/std). */
export function scoreLogReg(
  m: Pick<LogRegCVResult, 'kernel' | 'bias' | 'mean' | 'std'>,
  x: Float32Array,
  dim: number,
): Float32Array {
  const n = x.length / dim;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    let z = m.bias;
    for (let j = 0, o = i * dim; j < dim; j++) z += ((x[o + j] - m.mean[j]) / m.std[j]) * m.kernel[j];
    out[i] = sigmoid(z);
  }
  return out;
}
