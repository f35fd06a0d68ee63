// Activation ranges for static INT8 quantisation: histograms of calibration values and the three ways of
// turning them into a clipping range (min/max, percentile, entropy). Pure; no ONNX Runtime here.

export type CalibrationMethod = 'minmax' | 'percentile' | 'entropy';
export const CALIBRATION_METHODS: readonly CalibrationMethod[] = ['minmax', 'percentile', 'entropy'];

/** Bins per sign in a histogram: fine enough that a 255-level quantiser's step spans several bins. */
export const HIST_BINS = 2048;

/**
 * Values of one tensor over the calibration set, as two histograms of |x| (negative and non-negative
 * values apart) over [0, maxAbs]. maxAbs is fixed before the values are added (a first pass finds it),
 * so every batch lands in the same bins.
 */
export class TensorHistogram {
  readonly pos: Float64Array;
  readonly neg: Float64Array;
  min = Infinity;
  max = -Infinity;

  constructor(
    readonly maxAbs: number,
    readonly bins = HIST_BINS,
  ) {
    if (!(maxAbs >= 0) || !Number.isFinite(maxAbs))
      throw new Error(`histogram range ${maxAbs} is not a finite non-negative number`);
    this.pos = new Float64Array(bins);
    this.neg = new Float64Array(bins);
  }

  add(values: Float32Array): void {
    const k = this.maxAbs > 0 ? this.bins / this.maxAbs : 0;
    const last = this.bins - 1;
    let lo = this.min;
    let hi = this.max;
    for (let i = 0; i < values.length; i++) {
      const v = values[i];
      if (v < lo) lo = v;
      if (v > hi) hi = v;
      if (v >= 0) this.pos[Math.min(last, (v * k) | 0)]++;
      else this.neg[Math.min(last, (-v * k) | 0)]++;
    }
    this.min = lo;
    this.max = hi;
  }

  get count(): number {
    let n = 0;
    for (let i = 0; i < this.bins; i++) n += this.pos[i] + this.neg[i];
    return n;
  }
}

/** Largest |x| of a batch (the first calibration pass). */
export function maxAbsOf(values: Float32Array): number {
  let m = 0;
  for (let i = 0; i < values.length; i++) {
    const a = Math.abs(values[i]);
    if (a > m) m = a;
  }
  return m;
}

export interface Range {
  lo: number;
  hi: number;
}

/** The range [lo, hi] that keeps `p` (e.g. 0.9999) of the values, clipping (1 - p) / 2 from each tail that exists. */
export function percentileRange(h: TensorHistogram, p: number): Range {
  if (!(p > 0 && p <= 1)) throw new Error(`percentile ${p} must be in (0, 1]`);
  const total = h.count;
  if (total === 0) return { lo: 0, hi: 0 };
  const width = h.maxAbs / h.bins;
  const negTotal = h.neg.reduce((a, b) => a + b, 0);
  const twoSided = negTotal > 0 && negTotal < total;
  const tail = twoSided ? ((1 - p) / 2) * total : (1 - p) * total;
  // Walk in from the outermost bin until the clipped tail would exceed its share.
  const edge = (hist: Float64Array): number => {
    let acc = 0;
    for (let i = h.bins - 1; i >= 0; i--) {
      acc += hist[i];
      if (acc > tail) return (i + 1) * width;
    }
    return 0;
  };
  const hi = h.max > 0 ? Math.min(h.max, edge(h.pos)) : 0;
  const lo = h.min < 0 ? Math.max(h.min, -edge(h.neg)) : 0;
  return { lo, hi };
}

export function minMaxRange(h: TensorHistogram): Range {
  return { lo: Math.min(0, h.min), hi: Math.max(0, h.max) };
}

/**
 * Entropy (KL-divergence) calibration, after TensorRT's: the threshold T on |x| whose clipped histogram,
 * quantised to `levels` levels, loses the least information against the original. Range [-T, T]
 * intersected with what was seen.
 */
export function entropyRange(h: TensorHistogram, levels = 128): Range {
  const bins = h.bins;
  const abs = new Float64Array(bins);
  for (let i = 0; i < bins; i++) abs[i] = h.pos[i] + h.neg[i];
  const width = h.maxAbs / bins;
  let best = bins;
  let bestKl = Infinity;
  for (let t = levels; t <= bins; t += Math.max(1, Math.floor(bins / 256))) {
    const p = abs.slice(0, t);
    let outliers = 0;
    for (let i = t; i < bins; i++) outliers += abs[i];
    p[t - 1] += outliers;
    // q: the clipped p merged into `levels` groups, each group's mass spread back over its non-empty bins.
    const q = new Float64Array(t);
    const per = t / levels;
    for (let j = 0; j < levels; j++) {
      const a = Math.floor(j * per);
      const b = j === levels - 1 ? t : Math.floor((j + 1) * per);
      let mass = 0;
      let nonEmpty = 0;
      for (let i = a; i < b; i++) {
        mass += p[i];
        if (p[i] > 0) nonEmpty++;
      }
      if (nonEmpty) for (let i = a; i < b; i++) if (p[i] > 0) q[i] = mass / nonEmpty;
    }
    const kl = klDivergence(p, q);
    if (kl < bestKl) {
      bestKl = kl;
      best = t;
    }
  }
  const T = best * width;
  return { lo: h.min < 0 ? Math.max(h.min, -T) : 0, hi: h.max > 0 ? Math.min(h.max, T) : 0 };
}

function klDivergence(p: Float64Array, q: Float64Array): number {
  let ps = 0;
  let qs = 0;
  for (let i = 0; i < p.length; i++) {
    ps += p[i];
    qs += q[i];
  }
  if (ps === 0 || qs === 0) return Infinity;
  let kl = 0;
  for (let i = 0; i < p.length; i++) {
    if (p[i] === 0) continue;
    if (q[i] === 0) return Infinity; // p has mass where q has none: that threshold loses a bin outright
    const a = p[i] / ps;
    kl += a * Math.log(a / (q[i] / qs));
  }
  return kl;
}

export interface MethodSpec {
  method: CalibrationMethod;
  percentile?: number;
}

export const methodName = (m: MethodSpec): string =>
  m.method === 'percentile' ? `percentile:${m.percentile}` : m.method;

/** Parses 'minmax', 'entropy', 'percentile:0.9999' (the percentile as a fraction). */
export function parseMethod(s: string): MethodSpec {
  const [method, arg] = s.split(':');
  if (method === 'percentile') {
    const p = Number(arg ?? '0.9999');
    if (!(p > 0.9 && p <= 1))
      throw new Error(`--method ${s}: the percentile must be a fraction in (0.9, 1], e.g. percentile:0.9999`);
    return { method, percentile: p };
  }
  if (method === 'minmax' || method === 'entropy') return { method };
  throw new Error(`--method ${s}: not one of minmax, entropy, percentile:P`);
}

export function rangeOf(h: TensorHistogram, m: MethodSpec): Range {
  if (m.method === 'minmax') return minMaxRange(h);
  if (m.method === 'percentile') return percentileRange(h, m.percentile ?? 0.9999);
  // Non-negative tensors (ReLU outputs) use all 255 uint8 steps on [0, T]; signed ones about half each side.
  return entropyRange(h, h.min >= 0 ? 255 : 128);
}

/** uint8 asymmetric quantisation parameters of a range (0 always exactly representable, as ONNX requires). */
export function uint8Params(r: Range): { scale: number; zeroPoint: number } {
  const lo = Math.min(0, r.lo);
  const hi = Math.max(0, r.hi);
  if (hi - lo <= 0) return { scale: 1, zeroPoint: 0 };
  const scale = (hi - lo) / 255;
  return { scale, zeroPoint: Math.max(0, Math.min(255, Math.round(-lo / scale))) };
}
