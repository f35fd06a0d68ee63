import { seededRandom } from '../../shared/sampling.js';

export interface AugmentParams {
  angleDeg: number;
  flip: boolean;
  grayscale: boolean;
  shiftX: number; // pixels
  shiftY: number;
}

export interface AugmentRanges {
  maxRotateDeg: number;
  flipProb: number;
  grayProb: number;
  maxShiftFrac: number;
}

export const DEFAULT_AUGMENT: AugmentRanges = { maxRotateDeg: 10, flipProb: 0.5, grayProb: 0.2, maxShiftFrac: 0.1 };

/** Draws augmentation parameters from a seed (deterministic). */
export function drawAugment(seed: number, size: number, r: AugmentRanges = DEFAULT_AUGMENT): AugmentParams {
  const rand = seededRandom(seed);
  return {
    angleDeg: (rand() * 2 - 1) * r.maxRotateDeg,
    flip: rand() < r.flipProb,
    grayscale: rand() < r.grayProb,
    shiftX: Math.round((rand() * 2 - 1) * r.maxShiftFrac * size),
    shiftY: Math.round((rand() * 2 - 1) * r.maxShiftFrac * size),
  };
}

/**
 * Applies rotation about the centre, horizontal flip, shift (bilinear, edges clamped), then optional
 * grayscale (BT.601 luma) to a size×size RGB uint8 image. Pure: returns a new buffer.
 */
export function augmentRgb(rgb: Uint8Array, size: number, p: AugmentParams): Uint8Array {
  const out = new Uint8Array(rgb.length);
  const c = (size - 1) / 2;
  const a = (p.angleDeg * Math.PI) / 180;
  const cos = Math.cos(a);
  const sin = Math.sin(a);
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      // inverse map: output -> shifted -> rotated -> flipped source
      const dx = x - p.shiftX - c;
      const dy = y - p.shiftY - c;
      let sx = cos * dx + sin * dy + c;
      const sy = -sin * dx + cos * dy + c;
      if (p.flip) sx = size - 1 - sx;
      const o = (y * size + x) * 3;
      sampleBilinear(rgb, size, sx, sy, out, o);
      if (p.grayscale) {
        const g = Math.round(0.299 * out[o] + 0.587 * out[o + 1] + 0.114 * out[o + 2]);
        out[o] = out[o + 1] = out[o + 2] = g;
      }
    }
  }
  return out;
}

/**
 * Writes the RGB value at source coordinates (sx, sy) of a size×size image (bilinear, clamped to the
 * edges) into out[o..o+2]. The inner step of every resampling augmentation.
 */
export function sampleBilinear(
  rgb: Uint8Array,
  size: number,
  sx: number,
  sy: number,
  out: Uint8Array,
  o: number,
): void {
  const cx = Math.min(Math.max(sx, 0), size - 1);
  const cy = Math.min(Math.max(sy, 0), size - 1);
  const x0 = Math.floor(cx);
  const y0 = Math.floor(cy);
  const x1 = Math.min(x0 + 1, size - 1);
  const y1 = Math.min(y0 + 1, size - 1);
  const fx = cx - x0;
  const fy = cy - y0;
  for (let ch = 0; ch < 3; ch++) {
    const v00 = rgb[(y0 * size + x0) * 3 + ch];
    const v01 = rgb[(y0 * size + x1) * 3 + ch];
    const v10 = rgb[(y1 * size + x0) * 3 + ch];
    const v11 = rgb[(y1 * size + x1) * 3 + ch];
    const top = v00 + (v01 - v00) * fx;
    const bot = v10 + (v11 - v10) * fx;
    out[o + ch] = Math.round(top + (bot - top) * fy);
  }
}
