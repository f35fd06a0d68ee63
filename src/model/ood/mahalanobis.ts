/**
 * A Gaussian fitted to feature vectors: mean and the whitening matrix W = L⁻¹ (Σ = L·Lᵀ, lower
 * triangular, row-major d×d), so the Mahalanobis distance is ‖W·(x − μ)‖.
 */
export interface Gaussian {
  dim: number;
  mean: Float64Array;
  whitening: Float64Array;
  /** Ledoit-Wolf shrinkage towards a scaled identity applied to the sample covariance. */
  shrinkage: number;
}

/** Fits mean and Ledoit-Wolf-shrunk covariance to n rows of d features and returns its whitening. Pure. */
export function fitGaussian(rows: Float32Array, n: number, d: number): Gaussian {
  if (rows.length !== n * d) throw new Error(`fitGaussian: ${rows.length} values are not ${n}×${d}`);
  if (n < 2) throw new Error('fitGaussian: needs at least 2 rows');
  const mean = new Float64Array(d);
  for (let i = 0; i < n; i++) for (let j = 0; j < d; j++) mean[j] += rows[i * d + j];
  for (let j = 0; j < d; j++) mean[j] /= n;
  const x = new Float64Array(d);
  const cov = new Float64Array(d * d);
  let sumNorm4 = 0;
  for (let i = 0; i < n; i++) {
    let norm2 = 0;
    for (let j = 0; j < d; j++) {
      x[j] = rows[i * d + j] - mean[j];
      norm2 += x[j] * x[j];
    }
    sumNorm4 += norm2 * norm2;
    for (let a = 0; a < d; a++) {
      const xa = x[a];
      if (xa === 0) continue;
      const row = a * d;
      for (let b = 0; b <= a; b++) cov[row + b] += xa * x[b];
    }
  }
  for (let a = 0; a < d; a++) for (let b = 0; b <= a; b++) cov[a * d + b] = cov[b * d + a] = cov[a * d + b] / n;
  const shrinkage = ledoitWolf(cov, d, n, sumNorm4);
  let mu = 0;
  for (let a = 0; a < d; a++) mu += cov[a * d + a];
  mu /= d;
  for (let i = 0; i < cov.length; i++) cov[i] *= 1 - shrinkage;
  for (let a = 0; a < d; a++) cov[a * d + a] += shrinkage * mu;
  return { dim: d, mean, whitening: invertLower(cholesky(cov, d), d), shrinkage };
}

/** Ledoit & Wolf (2004) optimal shrinkage intensity for the sample covariance S of centred rows. Pure. */
export function ledoitWolf(s: Float64Array, d: number, n: number, sumNorm4: number): number {
  let trace = 0;
  let frob2 = 0;
  for (let a = 0; a < d; a++) trace += s[a * d + a];
  const mu = trace / d;
  let delta2 = 0;
  for (let a = 0; a < d; a++) {
    for (let b = 0; b < d; b++) {
      const v = s[a * d + b];
      frob2 += v * v;
      const t = v - (a === b ? mu : 0);
      delta2 += t * t;
    }
  }
  const beta2 = Math.max(0, (sumNorm4 / n - frob2) / n);
  return delta2 > 0 ? Math.min(1, beta2 / delta2) : 1;
}

/** Cholesky factor L (lower, row-major) of a symmetric positive-definite d×d matrix. Pure. */
export function cholesky(a: Float64Array, d: number): Float64Array {
  const l = new Float64Array(d * d);
  for (let i = 0; i < d; i++) {
    for (let j = 0; j <= i; j++) {
      let s = a[i * d + j];
      const ri = i * d;
      const rj = j * d;
      for (let k = 0; k < j; k++) s -= l[ri + k] * l[rj + k];
      if (i === j) {
        if (!(s > 0)) throw new Error(`cholesky: matrix is not positive definite (pivot ${i})`);
        l[ri + i] = Math.sqrt(s);
      } else {
        l[ri + j] = s / l[rj + j];
      }
    }
  }
  return l;
}

/** The inverse of a lower-triangular matrix (lower, row-major). Pure. */
export function invertLower(l: Float64Array, d: number): Float64Array {
  const w = new Float64Array(d * d);
  for (let i = 0; i < d; i++) {
    w[i * d + i] = 1 / l[i * d + i];
    for (let j = 0; j < i; j++) {
      let s = 0;
      for (let k = j; k < i; k++) s += l[i * d + k] * w[k * d + j];
      w[i * d + j] = -s / l[i * d + i];
    }
  }
  return w;
}

/** Mahalanobis distance of each of n feature rows from the Gaussian. Pure. */
export function mahalanobis(
  g: Pick<Gaussian, 'dim' | 'mean' | 'whitening'>,
  rows: Float32Array,
  n: number,
): Float32Array {
  const d = g.dim;
  if (rows.length !== n * d) throw new Error(`mahalanobis: ${rows.length} values are not ${n}×${d}`);
  const out = new Float32Array(n);
  const x = new Float64Array(d);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < d; j++) x[j] = rows[i * d + j] - g.mean[j];
    let sum = 0;
    for (let r = 0; r < d; r++) {
      let z = 0;
      const row = r * d;
      for (let k = 0; k <= r; k++) z += g.whitening[row + k] * x[k];
      sum += z * z;
    }
    out[i] = Math.sqrt(sum);
  }
  return out;
}

/** The p-th percentile (0-100) of values, nearest rank. Pure. */
export function percentile(values: ArrayLike<number>, p: number): number {
  const sorted = Float64Array.from(values).sort();
  if (sorted.length === 0) throw new Error('percentile of no values');
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}
