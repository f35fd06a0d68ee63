import type { VoiLut } from './header.js';

/** What a viewer applies to stored values to show them: PS3.3 C.11 (Modality LUT, VOI LUT, presentation). */
export interface DisplayParams {
  rescaleSlope: number;
  rescaleIntercept: number;
  window?: { center: number; width: number };
  voiLutFunction?: string;
  voiLut?: VoiLut;
  /** MONOCHROME1: low values are white. */
  invert: boolean;
}

/** Percentiles of the stored values used as the window when the header gives none. */
export const DEFAULT_PERCENTILE_WINDOW = [0.5, 99.5] as const;

/**
 * Maps stored values (integers) to 8-bit display values: rescale, then the VOI LUT sequence, else the
 * first window, else a percentile window; then MONOCHROME1 inversion. Pure.
 */
export function toDisplay8(stored: Int32Array, p: DisplayParams): Uint8Array {
  const out = new Uint8Array(stored.length);
  if (stored.length === 0) return out;
  const map = displayFunction(stored, p);
  // Stored values are integers in a bounded range: map each value once, then look pixels up.
  const [min, max] = range(stored);
  const lut = new Uint8Array(max - min + 1);
  for (let s = min; s <= max; s++) {
    const v = Math.round(map(s * p.rescaleSlope + p.rescaleIntercept));
    const c = v < 0 ? 0 : v > 255 ? 255 : v;
    lut[s - min] = p.invert ? 255 - c : c;
  }
  for (let i = 0; i < stored.length; i++) out[i] = lut[stored[i] - min];
  return out;
}

/** Smallest and largest value; a range wider than 2^24 (not a DICOM stored value) is refused. Pure. */
function range(values: Int32Array): [number, number] {
  let min = values[0];
  let max = values[0];
  for (let i = 1; i < values.length; i++) {
    const v = values[i];
    if (v < min) min = v;
    else if (v > max) max = v;
  }
  if (max - min > 1 << 24) throw new RangeError(`stored value range ${min}..${max} is too wide`);
  return [min, max];
}

type Fn = (x: number) => number;

function displayFunction(stored: Int32Array, p: DisplayParams): Fn {
  if (p.voiLut) return lutFunction(p.voiLut);
  if (p.window) return windowFunction(p.window.center, p.window.width, p.voiLutFunction);
  const [lo, hi] = percentiles(stored, DEFAULT_PERCENTILE_WINDOW).map((s) => s * p.rescaleSlope + p.rescaleIntercept);
  const [a, b] = lo <= hi ? [lo, hi] : [hi, lo];
  // A window spanning [a, b]: width b - a + 1 centred so that a maps to 0 and b to 255.
  return windowFunction(a + (b - a + 1) / 2, Math.max(1, b - a + 1), 'LINEAR');
}

/** VOI window: LINEAR (C.11.2.1.2.1, the default), LINEAR_EXACT and SIGMOID. Pure. */
export function windowFunction(center: number, width: number, fn = 'LINEAR'): Fn {
  if (fn === 'SIGMOID') return (x) => 255 / (1 + Math.exp((-4 * (x - center)) / width));
  if (fn === 'LINEAR_EXACT') {
    return (x) => (x <= center - width / 2 ? 0 : x > center + width / 2 ? 255 : ((x - center) / width + 0.5) * 255);
  }
  const w1 = Math.max(1, width) - 1;
  const c = center - 0.5;
  if (w1 === 0) return (x) => (x <= c ? 0 : 255);
  return (x) => (x <= c - w1 / 2 ? 0 : x > c + w1 / 2 ? 255 : ((x - c) / w1 + 0.5) * 255);
}

function lutFunction(lut: VoiLut): Fn {
  const max = 2 ** Math.min(16, Math.max(1, lut.bits)) - 1;
  const last = lut.data.length - 1;
  return (x) => {
    const i = Math.round(x) - lut.firstMapped;
    return (lut.data[i < 0 ? 0 : i > last ? last : i] / max) * 255;
  };
}

/** The given percentiles (0-100) of integer values, by histogram. Pure. */
export function percentiles(values: Int32Array, ps: readonly number[]): number[] {
  if (values.length === 0) return ps.map(() => 0);
  const [min, max] = range(values);
  const hist = new Uint32Array(max - min + 1);
  for (let i = 0; i < values.length; i++) hist[values[i] - min]++;
  return ps.map((pct) => {
    const target = Math.min(values.length - 1, Math.floor((pct / 100) * values.length));
    let seen = 0;
    for (let i = 0; i < hist.length; i++) {
      seen += hist[i];
      if (seen > target) return min + i;
    }
    return max;
  });
}
