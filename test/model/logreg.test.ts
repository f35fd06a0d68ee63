import { describe, expect, it } from 'vitest';
import { minimizeLbfgs } from '../../src/model/train/lbfgs.js';
import { fitLogRegCV, groupedFolds, scoreLogReg } from '../../src/model/train/logreg.js';
import { rocAuc } from '../../src/shared/metrics.js';
import { seededRandom } from '../../src/shared/sampling.js';

/** Gaussian features with per-column scale and offset; labels from a logistic model with direction w, some flipped; 4 rows per patient. */
function synthetic(n: number, dim: number, seed: number, opts: { flip?: number; signal?: number } = {}) {
  const rand = seededRandom(seed);
  const gauss = () => Math.sqrt(-2 * Math.log(1 - rand())) * Math.cos(2 * Math.PI * rand());
  const w = Float64Array.from({ length: dim }, (_, j) => (j < 5 ? (opts.signal ?? 1.5) * (j % 2 ? -1 : 1) : 0));
  const fixed = seededRandom(99); // the same columns in every draw
  const scale = Float64Array.from({ length: dim }, () => 0.5 + 3 * fixed());
  const x = new Float32Array(n * dim);
  const y = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    let z = 0;
    for (let j = 0; j < dim; j++) {
      const v = gauss();
      z += v * w[j];
      x[i * dim + j] = v * scale[j] + 10;
    }
    y[i] = rand() < 1 / (1 + Math.exp(-z)) ? 1 : 0;
    if (rand() < (opts.flip ?? 0)) y[i] = 1 - y[i];
  }
  return { x, y, w, scale, groups: Array.from({ length: n }, (_, i) => `p${Math.floor(i / 4)}`) };
}

const LAMBDAS = [1e-4, 1e-3, 1e-2, 0.1, 1];

describe('L-BFGS', () => {
  it('finds the minimum of an ill-conditioned quadratic', () => {
    const dim = 60;
    const a = Float64Array.from({ length: dim }, (_, i) => 10 ** ((3 * i) / (dim - 1))); // condition number 1000
    const c = Float64Array.from({ length: dim }, (_, i) => Math.sin(i));
    const r = minimizeLbfgs(
      (x, g) => {
        let f = 0;
        for (let i = 0; i < dim; i++) {
          const d = x[i] - c[i];
          f += 0.5 * a[i] * d * d;
          g[i] = a[i] * d;
        }
        return f;
      },
      new Float64Array(dim),
      { gradTol: 1e-9, fTol: 0 },
    );
    expect(r.converged).toBe(true);
    for (let i = 0; i < dim; i++) expect(r.x[i]).toBeCloseTo(c[i], 6);
  });
});

describe('fitLogRegCV', () => {
  it('recovers the direction of a logistic model from raw, unstandardised features', () => {
    const d = synthetic(3000, 20, 1);
    const m = fitLogRegCV(d.x, d.y, d.groups, 20, { lambdas: LAMBDAS });
    // weights on standardised features: w_j * scale_j / scale_j -> true weights (up to shrinkage)
    const dotp = Array.from(m.kernel).reduce((s, k, j) => s + k * d.w[j], 0);
    const cos = dotp / Math.hypot(...m.kernel) / Math.hypot(...d.w);
    expect(cos).toBeGreaterThan(0.97);
    expect(m.converged).toBe(true);
    for (let j = 0; j < 5; j++) expect(Math.abs(m.kernel[j] - d.w[j])).toBeLessThan(0.4);
    const test = synthetic(2000, 20, 2);
    const truth = Array.from(test.y, (v) => v === 1);
    const bayes = Array.from({ length: 2000 }, (_, i) =>
      d.w.reduce((s, wj, j) => s + (wj * (test.x[i * 20 + j] - 10)) / test.scale[j], 0),
    );
    const got = rocAuc(truth, Array.from(scoreLogReg(m, test.x, 20)))!;
    expect(got).toBeGreaterThan(rocAuc(truth, bayes)! - 0.01);
  });

  it('chooses a stronger penalty with fewer samples and with noisier labels', () => {
    const dim = 40;
    const many = synthetic(2400, dim, 3, { signal: 0.5 });
    const few = synthetic(120, dim, 3, { signal: 0.5 });
    const noisy = synthetic(2400, dim, 3, { signal: 0.5, flip: 0.35 });
    const fit = (s: typeof many) => fitLogRegCV(s.x, s.y, s.groups, dim, { lambdas: LAMBDAS });
    const lMany = fit(many);
    const lFew = fit(few);
    const lNoisy = fit(noisy);
    expect(lFew.lambda).toBeGreaterThan(lMany.lambda);
    expect(lNoisy.lambda).toBeGreaterThan(lMany.lambda);
    // the chosen point is the grid's minimum, and the curve is reported for every lambda
    expect(lMany.grid.map((g) => g.lambda)).toEqual(LAMBDAS);
    expect(lMany.cvLoss).toBe(Math.min(...lMany.grid.map((g) => g.cvLoss)));
  });

  it('keeps every group in one fold and balances classes across folds', () => {
    const rand = seededRandom(5);
    const n = 1000;
    const groups = Array.from({ length: n }, () => `g${Math.floor(rand() * 250)}`);
    const y = Uint8Array.from(groups, (g) => (Number(g.slice(1)) % 3 === 0 ? 0 : 1));
    const fold = groupedFolds(y, groups, 5, 42);
    const foldOfGroup = new Map<string, number>();
    groups.forEach((g, i) => {
      if (!foldOfGroup.has(g)) foldOfGroup.set(g, fold[i]);
      expect(fold[i]).toBe(foldOfGroup.get(g));
    });
    const pos = [0, 1, 2, 3, 4].map((f) => y.filter((v, i) => v === 1 && fold[i] === f).length);
    const total = y.reduce((s, v) => s + v, 0);
    for (const p of pos) expect(Math.abs(p - total / 5)).toBeLessThan(15);
    expect(() => groupedFolds(y.subarray(0, 3), groups.slice(0, 3), 5, 1)).toThrow(/cannot fill 5 folds/);
  });
});
