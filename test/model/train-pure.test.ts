import { describe, expect, it } from 'vitest';
import { augmentRgb, drawAugment } from '../../src/model/train/augment.js';
import { learningRateAt } from '../../src/model/train/lr.js';
import { parseTrainArgs } from '../../src/model/train/options.js';
import { stratifiedSplit } from '../../src/model/train/split.js';
import { chooseThreshold } from '../../src/model/train/threshold.js';
import { columnStats, scoreFeatures, trainHead } from '../../src/model/train/head-train.js';
import { canonicalJson, computeModelId } from '../../src/model/model-id.js';
import { seededRandom } from '../../src/shared/sampling.js';

describe('stratifiedSplit', () => {
  const items = Array.from({ length: 100 }, (_, i) => ({
    group: i < 10 && i % 4 !== 0 ? 'dup' : `g${i}`,
    label: i % 4 === 0 ? 0 : 1,
    i,
  }));
  it('is deterministic, stratified and keeps groups together', () => {
    const a = stratifiedSplit(items, 0.2, 7);
    const b = stratifiedSplit(items, 0.2, 7);
    expect(a.val.map((x) => x.i)).toEqual(b.val.map((x) => x.i));
    expect(a.train.length + a.val.length).toBe(100);
    const dupInVal = a.val.filter((x) => x.group === 'dup').length;
    expect([0, 7]).toContain(dupInVal); // the 7 identical items stay on one side
    const valNeg = a.val.filter((x) => x.label === 0).length;
    expect(valNeg).toBeGreaterThanOrEqual(4);
    expect(valNeg).toBeLessThanOrEqual(6);
    expect(stratifiedSplit(items, 0.2, 8).val.map((x) => x.i)).not.toEqual(a.val.map((x) => x.i));
  });
});

describe('chooseThreshold', () => {
  const truth = [false, false, false, true, true, true];
  const scores = [0.1, 0.4, 0.35, 0.8, 0.3, 0.9];
  it("maximises Youden's J", () => {
    const t = chooseThreshold(truth, scores, { kind: 'youden' });
    expect(t.threshold).toBe(0.8); // J = 2/3 + 1 - 1; t = 0.3 gives 1 + 1/3 - 1 (tie -> higher t)
    expect(t.sensitivity + t.specificity - 1).toBeCloseTo(2 / 3);
  });
  it('meets a sensitivity target with the highest threshold', () => {
    const t = chooseThreshold(truth, scores, { kind: 'sens-target', target: 0.95 });
    expect(t.threshold).toBe(0.3);
    expect(t.sensitivity).toBe(1);
  });
});

describe('augment', () => {
  it('identity parameters return the image; flip mirrors; grayscale equalises channels', () => {
    const size = 8;
    const rgb = Uint8Array.from({ length: size * size * 3 }, (_, i) => (i * 37) % 256);
    expect(augmentRgb(rgb, size, { angleDeg: 0, flip: false, grayscale: false, shiftX: 0, shiftY: 0 })).toEqual(rgb);
    const f = augmentRgb(rgb, size, { angleDeg: 0, flip: true, grayscale: false, shiftX: 0, shiftY: 0 });
    expect(Array.from(f.slice(0, 3))).toEqual(Array.from(rgb.slice((size - 1) * 3, size * 3)));
    const g = augmentRgb(rgb, size, { angleDeg: 5, flip: false, grayscale: true, shiftX: 1, shiftY: -1 });
    for (let i = 0; i < g.length; i += 3) expect(g[i]).toBe(g[i + 1]);
    expect(drawAugment(3, 224)).toEqual(drawAugment(3, 224));
    expect(Math.abs(drawAugment(3, 224).angleDeg)).toBeLessThanOrEqual(10);
  });
});

describe('training options and schedule', () => {
  it('parses options with defaults and rejects bad values', () => {
    const o = parseTrainArgs(['--data', 'd', '--optimizer', 'sgd', '--threshold-rule', 'sens-target:0.95']);
    expect(o).toMatchObject({
      data: 'd',
      optimizer: 'sgd',
      valFraction: 0.2,
      thresholdRule: { kind: 'sens-target', target: 0.95 },
    });
    expect(() => parseTrainArgs(['--data', 'd', '--optimizer', 'lion'])).toThrow(/optimizer/);
    expect(() => parseTrainArgs([])).toThrow(/--data/);
  });
  it('computes cosine and step learning rates', () => {
    expect(learningRateAt('cosine', 1, 0, 10)).toBe(1);
    expect(learningRateAt('cosine', 1, 5, 10)).toBeCloseTo(0.5);
    expect(learningRateAt('step', 1, 9, 10)).toBeCloseTo(0.01);
    expect(learningRateAt('constant', 0.3, 7, 10)).toBe(0.3);
  });
});

describe('trainHead', () => {
  it('learns a separable problem and folds standardisation into the weights', async () => {
    const tf = await import('@tensorflow/tfjs');
    await tf.setBackend('cpu');
    const rand = seededRandom(1);
    const make = (n: number) => {
      const dim = 8;
      const x = new Float32Array(n * dim);
      const y = new Uint8Array(n);
      for (let i = 0; i < n; i++) {
        y[i] = i % 3 === 0 ? 0 : 1;
        for (let j = 0; j < dim; j++) x[i * dim + j] = 5 + rand() + (j === 2 ? (y[i] ? 2 : -2) : 0);
      }
      return { x, y, n, dim };
    };
    const train = make(300);
    const val = make(90);
    const r = trainHead(train, val, {
      optimizer: 'adam',
      lr: 0.05,
      batchSize: 32,
      epochs: 15,
      lrSchedule: 'cosine',
      clipNorm: 1,
      weightDecay: 1e-4,
      dropout: 0.1,
      minEpochs: 2,
      patience: 5,
      classWeights: 'auto',
      seed: 1,
    });
    const s = scoreFeatures(val, r.kernel, r.bias);
    const acc = Array.from(s).filter((p, i) => (p >= 0.5 ? 1 : 0) === val.y[i]).length / val.n;
    expect(acc).toBeGreaterThan(0.95);
    expect(r.bestEpoch).toBeGreaterThanOrEqual(2);
    expect(columnStats(train).mean[2]).toBeGreaterThan(5);
  });
});

describe('model id', () => {
  it('ignores key order and the id field, changes with weights', () => {
    expect(canonicalJson({ b: 1, a: [{ d: 2, c: 3 }] })).toBe('{"a":[{"c":3,"d":2}],"b":1}');
    const w = Uint8Array.from([1, 2, 3]);
    const a = computeModelId('bb', w, { x: 1, y: 2, id: 'old' });
    expect(a).toMatch(/^[0-9a-f]{16}$/);
    expect(computeModelId('bb', w, { y: 2, x: 1 })).toBe(a);
    expect(computeModelId('bb', Uint8Array.from([1, 2, 4]), { x: 1, y: 2 })).not.toBe(a);
  });
});
