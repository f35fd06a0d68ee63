// Image variants of a training or validation image, named by one integer (the cache's "copy"):
//   0            the image as stored
//   1..999       the mild augmentation of 1.0.0/2.0.0 (augment.ts: rotation, flip, shift, grey)
//   1000 + k     the strong augmentation, draw k (random resized crop, rotation, flip, brightness,
//                contrast and gamma jitter): fine-tuning round k trains on draw k, a fresh one per round
//   2000 + k     the stressed validation's fixed shift k (k = 1: crop, zoom and intensity; k = 2: blur,
//                noise and JPEG quality only, kinds of shift that training never applies)
// The number keys the activation and feature caches, so every variant is computed once per image, and
// the draw is seeded by (image sha256, copy): the same on every host.
import sharp from 'sharp';
import { seededRandom, seedFrom } from '../../shared/sampling.js';
import { augmentRgb, drawAugment, sampleBilinear } from './augment.js';

export const STRONG_BASE = 1000;
export const STRESS_BASE = 2000;
/** The stressed-validation shifts, in report order. */
export const STRESS_VARIANTS = [
  { copy: STRESS_BASE + 1, name: 'crop, zoom and intensity' },
  { copy: STRESS_BASE + 2, name: 'blur, noise and JPEG quality (never trained on)' },
] as const;
/** The stressed validation's variant numbers, in report order. */
export const STRESS_COPIES: readonly number[] = STRESS_VARIANTS.map((v) => v.copy);

export type VariantKind = 'clean' | 'mild' | 'strong' | 'stress';

export function variantKind(copy: number): VariantKind {
  if (copy === 0) return 'clean';
  if (copy < STRONG_BASE) return 'mild';
  if (copy < STRESS_BASE) return 'strong';
  return 'stress';
}

/** Ranges of the strong augmentation: torchvision-style RandomResizedCrop plus photometric jitter. */
export interface StrongRanges {
  /** Crop area as a fraction of the image, [min, max]. */
  scale: [number, number];
  /** Crop aspect ratio (width / height), [min, max], drawn log-uniformly. */
  ratio: [number, number];
  maxRotateDeg: number;
  flipProb: number;
  /** Brightness factor in [1 - j, 1 + j], contrast factor (about the image mean) likewise, gamma exponent likewise. */
  brightness: number;
  contrast: number;
  gamma: number;
}

export const STRONG_AUGMENT: StrongRanges = {
  scale: [0.25, 1],
  ratio: [3 / 4, 4 / 3],
  maxRotateDeg: 10,
  flipProb: 0.5,
  brightness: 0.3,
  contrast: 0.3,
  gamma: 0.3,
};

/** Where the output's unit square comes from in the source, plus the photometric factors. */
export interface StrongParams {
  /** Crop box in source pixels. */
  x: number;
  y: number;
  w: number;
  h: number;
  angleDeg: number;
  flip: boolean;
  brightness: number;
  contrast: number;
  gamma: number;
}

/** Draws a crop box as torchvision's RandomResizedCrop does (10 tries, else the largest centred box in range). Pure. */
export function drawCrop(
  rand: () => number,
  size: number,
  scale: [number, number],
  ratio: [number, number],
): { x: number; y: number; w: number; h: number } {
  const area = size * size;
  const [lr0, lr1] = [Math.log(ratio[0]), Math.log(ratio[1])];
  for (let i = 0; i < 10; i++) {
    const a = area * (scale[0] + rand() * (scale[1] - scale[0]));
    const r = Math.exp(lr0 + rand() * (lr1 - lr0));
    const w = Math.sqrt(a * r);
    const h = Math.sqrt(a / r);
    if (w <= size && h <= size) return { x: rand() * (size - w), y: rand() * (size - h), w, h };
  }
  const r = Math.min(Math.max(1, ratio[0]), ratio[1]);
  const w = r >= 1 ? size : size * r;
  const h = r >= 1 ? size / r : size;
  return { x: (size - w) / 2, y: (size - h) / 2, w, h };
}

const jitter = (rand: () => number, j: number) => 1 - j + rand() * 2 * j;

export function drawStrong(seed: number, size: number, r: StrongRanges = STRONG_AUGMENT): StrongParams {
  const rand = seededRandom(seed);
  const crop = drawCrop(rand, size, r.scale, r.ratio);
  return {
    ...crop,
    angleDeg: (rand() * 2 - 1) * r.maxRotateDeg,
    flip: rand() < r.flipProb,
    brightness: jitter(rand, r.brightness),
    contrast: jitter(rand, r.contrast),
    gamma: jitter(rand, r.gamma),
  };
}

/**
 * Resamples the crop box to the whole size×size output, rotated about its centre and optionally
 * mirrored (bilinear, edges clamped). Pure: returns a new buffer.
 */
export function cropRotateRgb(
  rgb: Uint8Array,
  size: number,
  p: Pick<StrongParams, 'x' | 'y' | 'w' | 'h' | 'angleDeg' | 'flip'>,
): Uint8Array {
  const out = new Uint8Array(rgb.length);
  const a = (p.angleDeg * Math.PI) / 180;
  const cos = Math.cos(a);
  const sin = Math.sin(a);
  const sx = p.w / size;
  const sy = p.h / size;
  const cx = p.x + p.w / 2;
  const cy = p.y + p.h / 2;
  const half = size / 2;
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      // output pixel centre -> crop-relative offset -> rotated -> source pixel coordinates
      let ox = (x + 0.5 - half) * sx;
      const oy = (y + 0.5 - half) * sy;
      if (p.flip) ox = -ox;
      sampleBilinear(
        rgb,
        size,
        cx + cos * ox - sin * oy - 0.5,
        cy + sin * ox + cos * oy - 0.5,
        out,
        (y * size + x) * 3,
      );
    }
  }
  return out;
}

/**
 * Brightness (multiply), contrast (about the image's mean) and gamma ((v/255)^g), in that order, in
 * place, clamped to 0..255. Pure apart from writing `rgb`.
 */
export function photometric(rgb: Uint8Array, p: { brightness: number; contrast: number; gamma: number }): Uint8Array {
  let mean = 0;
  for (let i = 0; i < rgb.length; i++) mean += rgb[i];
  mean = (mean / Math.max(1, rgb.length)) * p.brightness;
  const lut = new Uint8Array(256);
  for (let v = 0; v < 256; v++) {
    const b = v * p.brightness;
    const c = Math.min(255, Math.max(0, mean + (b - mean) * p.contrast));
    lut[v] = Math.round(255 * Math.pow(c / 255, p.gamma));
  }
  for (let i = 0; i < rgb.length; i++) rgb[i] = lut[rgb[i]];
  return rgb;
}

export function strongAugmentRgb(rgb: Uint8Array, size: number, p: StrongParams): Uint8Array {
  return photometric(cropRotateRgb(rgb, size, p), p);
}

/** The stressed validation's shift for one image: a fixed draw per (image, shift). */
export interface StressParams {
  crop?: { x: number; y: number; w: number; h: number };
  brightness: number;
  contrast: number;
  gamma: number;
  /** Gaussian blur sigma (0: none). */
  blur: number;
  /** Additive Gaussian noise sigma in grey levels (0: none). */
  noise: number;
  /** JPEG re-encoding quality (0: none). */
  jpegQuality: number;
  noiseSeed: number;
}

/** Shift 1: crop 35-100% of the area (aspect free, resized back: zoom and stretch), contrast, brightness and gamma; shift 2: blur, noise and JPEG quality. Pure. */
export function drawStress(seed: number, size: number, shift: number): StressParams {
  const rand = seededRandom(seed);
  const noiseSeed = Math.floor(rand() * 2 ** 31);
  if (shift === 1) {
    return {
      crop: drawCrop(rand, size, [0.35, 1], [0.6, 1.6]),
      contrast: 0.6 + rand() * 0.8,
      brightness: 0.6 + rand() * 0.9,
      gamma: Math.exp((rand() * 2 - 1) * Math.log(1.5)),
      blur: 0,
      noise: 0,
      jpegQuality: 0,
      noiseSeed,
    };
  }
  return {
    brightness: 1,
    contrast: 1,
    gamma: 1,
    blur: rand() < 0.5 ? 0.3 + rand() : 0,
    noise: rand() < 0.5 ? 2 + rand() * 6 : 0,
    jpegQuality: Math.round(30 + rand() * 60),
    noiseSeed,
  };
}

/** Box-Muller Gaussian noise added in place. */
function addNoise(rgb: Uint8Array, sigma: number, seed: number): void {
  const rand = seededRandom(seed);
  for (let i = 0; i < rgb.length; i += 3) {
    const n = Math.sqrt(-2 * Math.log(1 - rand())) * Math.cos(2 * Math.PI * rand()) * sigma;
    for (let c = 0; c < 3; c++) rgb[i + c] = Math.min(255, Math.max(0, Math.round(rgb[i + c] + n)));
  }
}

export async function stressRgb(rgb: Uint8Array, size: number, p: StressParams): Promise<Uint8Array> {
  let out = p.crop ? cropRotateRgb(rgb, size, { ...p.crop, angleDeg: 0, flip: false }) : Uint8Array.from(rgb);
  photometric(out, p);
  if (p.noise > 0) addNoise(out, p.noise, p.noiseSeed);
  if (p.blur > 0 || p.jpegQuality > 0) {
    let img = sharp(out, { raw: { width: size, height: size, channels: 3 } });
    if (p.blur > 0) img = img.blur(p.blur);
    if (p.jpegQuality > 0) img = sharp(await img.jpeg({ quality: p.jpegQuality }).toBuffer());
    const { data } = await img.removeAlpha().raw().toBuffer({ resolveWithObject: true });
    out = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  }
  return out;
}

/** The variant `copy` of a decoded size×size RGB image (see the table at the top). */
export async function variantRgb(rgb: Uint8Array, size: number, sha256: string, copy: number): Promise<Uint8Array> {
  const seed = seedFrom(sha256, copy);
  switch (variantKind(copy)) {
    case 'clean':
      return rgb;
    case 'mild':
      return augmentRgb(rgb, size, drawAugment(seed, size));
    case 'strong':
      return strongAugmentRgb(rgb, size, drawStrong(seed, size));
    case 'stress':
      return stressRgb(rgb, size, drawStress(seed, size, copy - STRESS_BASE));
  }
}
