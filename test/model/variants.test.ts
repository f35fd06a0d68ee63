import { describe, expect, it } from 'vitest';
import { foldNorm, unfoldNorm } from '../../src/model/train/fold-norm.js';
import { parseTrainArgs } from '../../src/model/train/options.js';
import {
  cropRotateRgb,
  drawCrop,
  drawStress,
  drawStrong,
  photometric,
  STRESS_BASE,
  STRONG_BASE,
  variantKind,
  variantRgb,
} from '../../src/model/train/variants.js';
import { seededRandom } from '../../src/shared/sampling.js';
import { splitRun } from '../../src/train-queue/plan-run.js';
import { roundCopies } from '../../src/train-queue/shard-job.js';
import type { TrainItem, TrainRunSpec } from '../../src/train-queue/types.js';

const SIZE = 32;
/** A horizontal ramp: pixel value = x * 8, so geometry is readable from the values. */
const ramp = (): Uint8Array => {
  const rgb = new Uint8Array(SIZE * SIZE * 3);
  for (let y = 0; y < SIZE; y++)
    for (let x = 0; x < SIZE; x++) rgb.fill(x * 8, (y * SIZE + x) * 3, (y * SIZE + x) * 3 + 3);
  return rgb;
};
const at = (rgb: Uint8Array, x: number, y: number) => rgb[(y * SIZE + x) * 3];

describe('image variants', () => {
  it('names variants by their copy number', () => {
    expect([0, 1, 999, STRONG_BASE + 1, STRESS_BASE + 2].map(variantKind)).toEqual([
      'clean',
      'mild',
      'mild',
      'strong',
      'stress',
    ]);
  });

  it('the full-image crop without rotation or flip is the identity; a flip mirrors; a left-half crop stretches the left half', () => {
    const img = ramp();
    const full = { x: 0, y: 0, w: SIZE, h: SIZE, angleDeg: 0, flip: false };
    expect(Array.from(cropRotateRgb(img, SIZE, full))).toEqual(Array.from(img));
    const flipped = cropRotateRgb(img, SIZE, { ...full, flip: true });
    expect(at(flipped, 0, 5)).toBe(at(img, SIZE - 1, 5));
    const left = cropRotateRgb(img, SIZE, { ...full, w: SIZE / 2 });
    expect(at(left, SIZE - 1, 3)).toBeLessThanOrEqual(at(img, SIZE / 2, 3));
    expect(at(left, SIZE - 1, 3)).toBeGreaterThan(at(img, SIZE / 2 - 2, 3));
  });

  it('draws crops inside the image with area and aspect in range', () => {
    const rand = seededRandom(1);
    for (let i = 0; i < 200; i++) {
      const c = drawCrop(rand, 224, [0.25, 1], [3 / 4, 4 / 3]);
      expect(c.x).toBeGreaterThanOrEqual(0);
      expect(c.y).toBeGreaterThanOrEqual(0);
      expect(c.x + c.w).toBeLessThanOrEqual(224 + 1e-9);
      expect(c.y + c.h).toBeLessThanOrEqual(224 + 1e-9);
      expect((c.w * c.h) / 224 ** 2).toBeGreaterThanOrEqual(0.25 - 1e-9);
      expect(c.w / c.h).toBeGreaterThanOrEqual(3 / 4 - 1e-9);
      expect(c.w / c.h).toBeLessThanOrEqual(4 / 3 + 1e-9);
    }
  });

  it('photometric jitter: identity at 1/1/1, brighter with brightness > 1, gamma < 1 lifts mid-greys', () => {
    const img = ramp();
    expect(Array.from(photometric(Uint8Array.from(img), { brightness: 1, contrast: 1, gamma: 1 }))).toEqual(
      Array.from(img),
    );
    expect(at(photometric(Uint8Array.from(img), { brightness: 1.3, contrast: 1, gamma: 1 }), 10, 0)).toBeGreaterThan(
      at(img, 10, 0),
    );
    expect(at(photometric(Uint8Array.from(img), { brightness: 1, contrast: 1, gamma: 0.7 }), 16, 0)).toBeGreaterThan(
      at(img, 16, 0),
    );
  });

  it('strong draws are seeded by image and copy, and differ between rounds', async () => {
    const img = ramp();
    const a = await variantRgb(img, SIZE, 'sha-a', STRONG_BASE + 1);
    expect(Array.from(await variantRgb(img, SIZE, 'sha-a', STRONG_BASE + 1))).toEqual(Array.from(a));
    expect(Array.from(await variantRgb(img, SIZE, 'sha-a', STRONG_BASE + 2))).not.toEqual(Array.from(a));
    expect(drawStrong(5, 224)).toEqual(drawStrong(5, 224));
    expect(Array.from(await variantRgb(img, SIZE, 'sha-a', 0))).toEqual(Array.from(img));
  });

  it('stress shift 1 crops and changes intensity; shift 2 only blurs, adds noise and re-encodes', async () => {
    const s1 = drawStress(7, 224, 1);
    expect(s1.crop).toBeDefined();
    expect(s1.jpegQuality).toBe(0);
    const s2 = drawStress(7, 224, 2);
    expect(s2.crop).toBeUndefined();
    expect([s2.brightness, s2.contrast, s2.gamma]).toEqual([1, 1, 1]);
    expect(s2.jpegQuality).toBeGreaterThanOrEqual(30);
    const out = await variantRgb(ramp(), SIZE, 'sha-b', STRESS_BASE + 2);
    expect(out.length).toBe(SIZE * SIZE * 3);
    expect(Array.from(out)).not.toEqual(Array.from(ramp()));
  });
});

describe('recipe pieces of the strong fine-tune', () => {
  it('unfoldNorm inverts foldNorm', () => {
    const k = Float32Array.of(0.5, -2, 3);
    const mean = Float32Array.of(1, 2, -1);
    const std = Float32Array.of(2, 0.5, 4);
    const raw = foldNorm(k, 0.25, mean, std);
    const back = unfoldNorm(raw.kernel, raw.bias, mean, std);
    back.kernel.forEach((v, i) => expect(v).toBeCloseTo(k[i], 6));
    expect(back.bias).toBeCloseTo(0.25, 6);
  });

  it('parses the new recipe flags, and refuses a held-out share that does not fit inside the validation side', () => {
    const o = parseTrainArgs(['--data', 'd', '--train-from', 'conv5']);
    expect([o.augment, o.labelSmoothing, o.holdoutFraction, o.selectOn, o.initFrom]).toEqual([
      'strong',
      0.1,
      0.1,
      'stressed',
      '',
    ]);
    expect(() => parseTrainArgs(['--data', 'd', '--val-fraction', '0.1', '--holdout-fraction', '0.1'])).toThrow(
      /holdout-fraction/,
    );
    expect(() => parseTrainArgs(['--data', 'd', '--augment', 'wild'])).toThrow(/--augment wild/);
  });

  it('strong fine-tuning trains on a fresh draw per round; mild keeps its copies', () => {
    const spec = (augment: 'mild' | 'strong', trainFrom: 'conv5' | 'head') =>
      ({ recipe: { augment, trainFrom, augmentCopies: 2 } }) as unknown as TrainRunSpec;
    expect(roundCopies(spec('strong', 'conv5'), 0)).toEqual([0]);
    expect(roundCopies(spec('strong', 'conv5'), 3)).toEqual([STRONG_BASE + 3]);
    expect(roundCopies(spec('mild', 'conv5'), 3)).toEqual([0, 1, 2]);
    expect(roundCopies(spec('strong', 'head'), 1)).toEqual([0, STRONG_BASE + 1, STRONG_BASE + 2]);
  });

  it('holds out whole patients from the validation side and leaves the training side as the same seed gave it', () => {
    const items: TrainItem[] = [];
    for (let p = 0; p < 400; p++)
      for (let k = 0; k < 1 + (p % 3); k++)
        items.push({
          key: `${p % 4 ? 'PNEUMONIA' : 'NORMAL'}/person${p}_bacteria_${k}.jpeg`,
          etag: `e${p}-${k}`,
          label: p % 4 ? 1 : 0,
          group: `e${p}-${k}`,
        });
    const before = splitRun(items, { limit: 0, valFraction: 0.2, seed: 42, groupBy: 'auto' });
    const after = splitRun(items, { limit: 0, valFraction: 0.2, holdoutFraction: 0.1, seed: 42, groupBy: 'auto' });
    expect(after.train.map((i) => i.key)).toEqual(before.train.map((i) => i.key));
    expect(after.holdout.length).toBeGreaterThan(0.08 * items.length);
    expect(after.holdout.length).toBeLessThan(0.12 * items.length);
    const groups = (xs: TrainItem[]) => new Set(xs.map((i) => i.group));
    const held = groups(after.holdout);
    for (const g of [...groups(after.train), ...groups(after.val)]) expect(held.has(g)).toBe(false);
    expect(new Set(after.holdout.map((i) => i.label)).size).toBe(2);
  });
});

describe('temperature scaling', () => {
  it('recovers the temperature that generated the labels, and shrinks over-confident logits', async () => {
    const { fitTemperature, saturatedShare, scoresAt } = await import('../../src/model/train/temperature.js');
    const rand = seededRandom(11);
    const z: number[] = [];
    const y: number[] = [];
    for (let i = 0; i < 4000; i++) {
      const t = (rand() * 2 - 1) * 4; // true logit
      y.push(rand() < 1 / (1 + Math.exp(-t)) ? 1 : 0);
      z.push(t * 5); // the model is 5x over-confident
    }
    const fit = fitTemperature(z, y);
    expect(fit.temperature).toBeGreaterThan(4.3);
    expect(fit.temperature).toBeLessThan(5.8);
    expect(fit.nllAfter).toBeLessThan(fit.nllBefore);
    expect(saturatedShare(scoresAt(z, 1))).toBeGreaterThan(0);
    expect(saturatedShare(scoresAt(z, fit.temperature))).toBe(0);
  });
});
