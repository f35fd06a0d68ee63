/** Exact binomial (Clopper–Pearson) intervals and the sample size a sensitivity target needs. Pure. */

const logFactorials: number[] = [0];

function logFactorial(n: number): number {
  for (let k = logFactorials.length; k <= n; k++) logFactorials.push(logFactorials[k - 1] + Math.log(k));
  return logFactorials[n];
}

/** P(X >= x) for X ~ Binomial(n, p). */
export function binomialUpperTail(x: number, n: number, p: number): number {
  if (x <= 0) return 1;
  if (x > n) return 0;
  if (p <= 0) return 0;
  if (p >= 1) return 1;
  const lp = Math.log(p);
  const lq = Math.log1p(-p);
  let s = 0;
  for (let k = x; k <= n; k++)
    s += Math.exp(logFactorial(n) - logFactorial(k) - logFactorial(n - k) + k * lp + (n - k) * lq);
  return Math.min(1, s);
}

/** Solves f(p) = target on [0, 1] for f increasing in p, by bisection. */
function bisect(f: (p: number) => number, target: number): number {
  let lo = 0;
  let hi = 1;
  for (let i = 0; i < 60; i++) {
    const mid = (lo + hi) / 2;
    if (f(mid) < target) lo = mid;
    else hi = mid;
  }
  return (lo + hi) / 2;
}

/** Two-sided Clopper–Pearson interval for x successes in n trials at `level` (default 0.95). */
export function clopperPearson(x: number, n: number, level = 0.95): { lo: number; hi: number } {
  if (!(Number.isInteger(x) && Number.isInteger(n) && n > 0 && x >= 0 && x <= n))
    throw new Error(`clopperPearson: need integers 0 <= x <= n, n > 0 (got ${x}, ${n})`);
  const a = (1 - level) / 2;
  const lo = x === 0 ? 0 : bisect((p) => binomialUpperTail(x, n, p), a);
  const hi = x === n ? 1 : bisect((p) => binomialUpperTail(x + 1, n, p), 1 - a); // P(X <= x) = a
  return { lo, hi };
}

/**
 * The sample-size rule for choosing a threshold at a sensitivity target: the fewest positives n such
 * that a sample sensitivity of ceil(target * n) / n (what the threshold rule lands on) has a
 * Clopper–Pearson lower bound (two-sided `level`) of at least target - margin, for n and every larger
 * sample size up to a full zig-zag of the rounding (ceil(1 / (1 - target)) + 1 sizes). Target 0.95, margin 0.05 -> 141.
 */
export function requiredPositives(target: number, margin = 0.05, level = 0.95): number {
  if (!(target > 0 && target < 1)) throw new Error(`target sensitivity ${target} must be in (0, 1)`);
  if (!(margin > 0 && margin < target)) throw new Error(`margin ${margin} must be in (0, target)`);
  const ok = (n: number) => clopperPearson(Math.ceil(target * n - 1e-9), n, level).lo >= target - margin;
  // Lower bounds of the rounded-up proportion zig-zag with n; require a run long enough to cover a full zig-zag.
  const run = Math.ceil(1 / (1 - target)) + 1;
  let streak = 0;
  for (let n = 1; n <= 1_000_000; n++) {
    streak = ok(n) ? streak + 1 : 0;
    if (streak >= run) return n - run + 1;
  }
  throw new Error(`no sample size up to 1e6 supports sensitivity ${target} within ${margin}`);
}
