/**
 * L-BFGS minimisation of a smooth function (two-loop recursion, backtracking Armijo line search,
 * curvature-checked memory). Pure; full-batch. Written here because no maintained npm package offers it.
 */

export interface LbfgsOptions {
  /** Memory pairs (default 10). */
  memory?: number;
  maxIter?: number;
  /** Stop when the gradient's infinity norm is at most this (default 1e-6). */
  gradTol?: number;
  /** Stop when the relative decrease of f over an iteration is below this (default 1e-10). */
  fTol?: number;
}

export interface LbfgsResult {
  x: Float64Array;
  f: number;
  gradInf: number;
  iterations: number;
  evaluations: number;
  converged: boolean;
}

/** f and its gradient at x: returns f, writes the gradient into g. */
export type Objective = (x: Float64Array, g: Float64Array) => number;

const dot = (a: Float64Array, b: Float64Array): number => {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * b[i];
  return s;
};
const infNorm = (a: Float64Array): number => {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]));
  return m;
};

export function minimizeLbfgs(fg: Objective, x0: Float64Array, opts: LbfgsOptions = {}): LbfgsResult {
  const m = opts.memory ?? 10;
  const maxIter = opts.maxIter ?? 500;
  const gradTol = opts.gradTol ?? 1e-6;
  const fTol = opts.fTol ?? 1e-10;
  const n = x0.length;
  let x = Float64Array.from(x0);
  let g = new Float64Array(n);
  let f = fg(x, g);
  let evaluations = 1;
  const S: Float64Array[] = [];
  const Y: Float64Array[] = [];
  const rho: number[] = [];
  const d = new Float64Array(n);
  const alpha = new Float64Array(m);
  let xNew = new Float64Array(n);
  let gNew = new Float64Array(n);
  let it = 0;
  for (; it < maxIter; it++) {
    if (infNorm(g) <= gradTol) return { x, f, gradInf: infNorm(g), iterations: it, evaluations, converged: true };
    // d = -H g by the two-loop recursion
    for (let i = 0; i < n; i++) d[i] = -g[i];
    for (let k = S.length - 1; k >= 0; k--) {
      alpha[k] = rho[k] * dot(S[k], d);
      for (let i = 0; i < n; i++) d[i] -= alpha[k] * Y[k][i];
    }
    const gamma = S.length
      ? dot(S[S.length - 1], Y[Y.length - 1]) / dot(Y[Y.length - 1], Y[Y.length - 1])
      : 1 / Math.max(1, Math.sqrt(dot(g, g)));
    for (let i = 0; i < n; i++) d[i] *= gamma;
    for (let k = 0; k < S.length; k++) {
      const beta = rho[k] * dot(Y[k], d);
      for (let i = 0; i < n; i++) d[i] += (alpha[k] - beta) * S[k][i];
    }
    let slope = dot(g, d);
    if (!(slope < 0)) {
      // not a descent direction: restart from steepest descent
      S.length = Y.length = rho.length = 0;
      for (let i = 0; i < n; i++) d[i] = -g[i] / Math.max(1, Math.sqrt(dot(g, g)));
      slope = dot(g, d);
    }
    let step = 1;
    let fNew = Infinity;
    for (let ls = 0; ls < 50; ls++) {
      for (let i = 0; i < n; i++) xNew[i] = x[i] + step * d[i];
      fNew = fg(xNew, gNew);
      evaluations++;
      if (fNew <= f + 1e-4 * step * slope) break;
      step *= 0.5;
    }
    if (!(fNew <= f)) return { x, f, gradInf: infNorm(g), iterations: it, evaluations, converged: false }; // line search failed
    const s = new Float64Array(n);
    const y = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      s[i] = xNew[i] - x[i];
      y[i] = gNew[i] - g[i];
    }
    const sy = dot(s, y);
    if (sy > 1e-12 * Math.sqrt(dot(s, s) * dot(y, y))) {
      if (S.length === m) {
        S.shift();
        Y.shift();
        rho.shift();
      }
      S.push(s);
      Y.push(y);
      rho.push(1 / sy);
    }
    const decrease = f - fNew;
    [x, xNew] = [xNew, x];
    [g, gNew] = [gNew, g];
    f = fNew;
    if (decrease <= fTol * Math.max(1, Math.abs(f)))
      return { x, f, gradInf: infNorm(g), iterations: it + 1, evaluations, converged: true };
  }
  return { x, f, gradInf: infNorm(g), iterations: it, evaluations, converged: infNorm(g) <= gradTol };
}
