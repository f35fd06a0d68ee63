import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { restandardise } from '../../src/model/finetune/adapt.js';
import { halfToFloat } from '../../src/model/finetune/activations.js';
import { accumulateBnStats, emptyBnSums, setBnStats } from '../../src/model/finetune/bn-stats.js';
import { foldNorm } from '../../src/model/train/fold-norm.js';
import { decodeSiteStats, encodeSiteStats } from '../../src/model/finetune/site-stats.js';
import {
  assignWeights,
  buildSuffixModel,
  disposeSuffix,
  flattenWeights,
} from '../../src/model/finetune/suffix-model.js';
import { halfPrecisionArtifacts } from '../../src/model/io/fp16.js';
import { readModelDir, writeModelDir } from '../../src/model/io/fs-io.js';
import { isModelRef, shippedModelDir } from '../../src/model/io/shipped-models.js';
import { learningRateWithWarmup } from '../../src/model/train/lr.js';
import { decodeArtifactWeights } from '../../src/model/weights.js';
import { seededRandom } from '../../src/shared/sampling.js';
import { averageVectors } from '../../src/train-queue/averaging.js';
import { packParts, unpackParts } from '../../src/train-queue/codec.js';

const rand = seededRandom(3);
const randArr = (n: number, scale = 1) => Float32Array.from({ length: n }, () => (rand() * 2 - 1) * scale);

describe('fine-tune pure pieces', () => {
  it('averages weight vectors by samples seen', () => {
    const r = averageVectors([
      { values: Float32Array.of(1, 2), samples: 1 },
      { values: Float32Array.of(4, 8), samples: 3 },
    ]);
    expect(Array.from(r.values)).toEqual([3.25, 6.5]);
    expect(r.samples).toBe(4);
    expect(() =>
      averageVectors([
        { values: Float32Array.of(1), samples: 1 },
        { values: Float32Array.of(1, 2), samples: 1 },
      ]),
    ).toThrow(/length/);
  });

  it('packs and unpacks byte parts, and refuses a truncated pack', () => {
    const parts = [Uint8Array.of(1, 2, 3), new Uint8Array(0), Uint8Array.of(9)];
    expect(unpackParts(packParts(parts)).map((p) => Array.from(p))).toEqual([[1, 2, 3], [], [9]]);
    expect(() => unpackParts(packParts(parts).subarray(0, 17))).toThrow(/truncated/);
  });

  it('folds the standardisation into the Dense exactly, and re-standardising onto the same statistics is the identity', () => {
    const dim = 16;
    const norm = { mean: randArr(dim, 3), std: Float32Array.from(randArr(dim), (v) => 0.5 + Math.abs(v)) };
    const k = randArr(dim);
    const f = randArr(dim, 4);
    let zs = 0.7;
    for (let j = 0; j < dim; j++) zs += k[j] * ((f[j] - norm.mean[j]) / norm.std[j]);
    const raw = foldNorm(k, 0.7, norm.mean, norm.std);
    let zr = raw.bias;
    for (let j = 0; j < dim; j++) zr += raw.kernel[j] * f[j];
    expect(zr).toBeCloseTo(zs, 4);
    const same = restandardise(raw.kernel, raw.bias, norm, norm);
    for (let j = 0; j < dim; j++) expect(same.kernel[j]).toBeCloseTo(raw.kernel[j], 5);
    expect(same.bias).toBeCloseTo(raw.bias, 4);
    // A site whose features are shifted and scaled gets the same logit for its correspondingly shifted input.
    const site = { mean: Float32Array.from(norm.mean, (m) => m + 2), std: Float32Array.from(norm.std, (s) => s * 1.5) };
    const moved = restandardise(raw.kernel, raw.bias, norm, site);
    let zm = moved.bias;
    for (let j = 0; j < dim; j++)
      zm += moved.kernel[j] * (site.mean[j] + ((f[j] - norm.mean[j]) / norm.std[j]) * site.std[j]);
    expect(zm).toBeCloseTo(zs, 4);
  });

  it('warms the learning rate up linearly, then follows the schedule', () => {
    expect(learningRateWithWarmup('cosine', 1, 0, 5, 1)).toBeCloseTo(0.5);
    expect(learningRateWithWarmup('cosine', 1, 1, 5, 1)).toBeCloseTo(1);
    expect(learningRateWithWarmup('cosine', 1, 3, 5, 1)).toBeCloseTo(0.5);
    expect(learningRateWithWarmup('constant', 0.1, 0, 5, 0)).toBeCloseTo(0.1);
  });

  it('tells model references from paths and names the shipped models when one is missing', async () => {
    expect(isModelRef('ec3cc9117c193878')).toBe(true);
    expect(isModelRef('pneumonia-resnet50@1.0.0')).toBe(true);
    expect(isModelRef('models/pneumonia-resnet50')).toBe(false);
    expect(await shippedModelDir('models/pneumonia-resnet50')).toBeUndefined();
    await expect(shippedModelDir('0000000000000000')).rejects.toThrow(/not shipped.*shipped: pneumonia-resnet50@/);
    expect(await shippedModelDir('ec3cc9117c193878')).toMatch(/models\/pneumonia-resnet50-1\.0\.0$/); // 1.0.0 stays loadable by id
    expect(await shippedModelDir('pneumonia-resnet50@1.0.0')).toMatch(/models\/pneumonia-resnet50-1\.0\.0$/);
    expect(await shippedModelDir('pneumonia-resnet50@2.0.0')).toMatch(/models\/pneumonia-resnet50-2\.0\.0$/); // 2.0.0 stays selectable
    expect(await shippedModelDir('8c49fd880de4ccdf')).toMatch(/models\/pneumonia-resnet50-2\.0\.0$/);
    expect(await shippedModelDir('pneumonia-resnet50@2.1.0')).toMatch(/models\/pneumonia-resnet50$/);
  });
});

describe('fine-tune model pieces (wasm backend)', () => {
  beforeAll(async () => {
    await tf.setBackend('wasm');
    await tf.ready();
  });

  it('stores float16 weights that TF.js widens back within fp16 precision', async () => {
    const m = buildSuffixModel('conv5');
    const dir = mkdtempSync(path.join(os.tmpdir(), 'cxr-fp16-'));
    try {
      const before = flattenWeights(m);
      await m.full.save({ save: (a) => writeModelDir(dir, halfPrecisionArtifacts(a)) });
      const a = await readModelDir(dir);
      expect((a.weightData as ArrayBuffer).byteLength).toBe(before.length * 2);
      const w = decodeArtifactWeights(a);
      const m2 = buildSuffixModel('conv5');
      for (const l of m2.full.layers)
        if (l.weights.length) l.setWeights(l.weights.map((v) => w[`${l.name}/${v.originalName.split('/').pop()}`]));
      const after = flattenWeights(m2);
      let worst = 0;
      for (let i = 0; i < before.length; i += 101)
        worst = Math.max(worst, Math.abs(after[i] - before[i]) / Math.max(1e-3, Math.abs(before[i])));
      expect(worst).toBeLessThan(1e-3);
      tf.dispose(Object.values(w));
      disposeSuffix(m2);
    } finally {
      disposeSuffix(m);
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('AdaBN pass: each BatchNorm layer gets its input batch statistics; flattened weights round-trip', () => {
    const m = buildSuffixModel('conv5');
    try {
      const x = tf.randomNormal([3, 14, 14, 1024], 0.5, 2, 'float32', 11) as tf.Tensor4D;
      const sums = emptyBnSums(m);
      accumulateBnStats(m, x, sums);
      expect(sums.n).toBe(3);
      expect(sums.layers).toHaveLength(10);
      // The first BN layer's input is res5a_branch2a's output: its per-channel mean over batch and space.
      const conv = tf.model({
        inputs: m.gap.inputs,
        outputs: m.gap.getLayer('res5a_branch2a').output as tf.SymbolicTensor,
      });
      const direct = tf.tidy(() => tf.mean(conv.predict(x) as tf.Tensor, [0, 1, 2]).dataSync() as Float32Array);
      const i = sums.layers.indexOf('bn5a_branch2a');
      for (let c = 0; c < 512; c += 37) expect(sums.sum[i][c] / 3).toBeCloseTo(direct[c], 3);
      setBnStats(m, sums);
      const mm = m.gap.getLayer('bn5a_branch2a').getWeights()[2].dataSync();
      expect(mm[37]).toBeCloseTo(direct[37], 3);
      const flat = flattenWeights(m);
      flat[0] += 1;
      assignWeights(m, flat);
      expect(flattenWeights(m)[0]).toBeCloseTo(flat[0], 5);
      expect(() => assignWeights(m, flat.subarray(1))).toThrow(/weight vector has/);
      x.dispose();
    } finally {
      disposeSuffix(m);
    }
  });

  it('site statistics survive encoding; fp16 activations widen exactly', () => {
    const s = {
      n: 5,
      layers: ['a', 'b'],
      bnMean: [randArr(3), randArr(2)],
      bnVar: [randArr(3), randArr(2)],
      featMean: randArr(4),
      featStd: randArr(4),
    };
    const d = decodeSiteStats(encodeSiteStats(s), ['a', 'b']);
    expect(d.n).toBe(5);
    expect(Array.from(d.bnVar[1])).toEqual(Array.from(s.bnVar[1]));
    expect(Array.from(d.featStd)).toEqual(Array.from(s.featStd));
    expect(() => decodeSiteStats(encodeSiteStats(s), ['a'])).toThrow(/2 BatchNorm layers/);
    const out = new Float32Array(3);
    halfToFloat(Uint16Array.of(0x3c00, 0xc000, 0x3555), out);
    expect(out[0]).toBe(1);
    expect(out[1]).toBe(-2);
    expect(out[2]).toBeCloseTo(1 / 3, 3);
  });
});

describe('sens-bound threshold rule', () => {
  it('holds the sensitivity target on its exact lower bound, so it sits below the sens-target threshold', async () => {
    const { chooseThreshold } = await import('../../src/model/train/threshold.js');
    const { parseThresholdRule } = await import('../../src/model/train/options.js');
    const r = seededRandom(5);
    const truth = Array.from({ length: 600 }, (_, i) => i < 500);
    const scores = truth.map((t) => (t ? 0.3 + 0.7 * r() : 0.25 * r()));
    const point = chooseThreshold(truth, scores, parseThresholdRule('sens-target:0.95'));
    const bound = chooseThreshold(truth, scores, parseThresholdRule('sens-bound:0.95'));
    expect(point.sensitivity).toBeGreaterThanOrEqual(0.95);
    expect(bound.threshold).toBeLessThan(point.threshold);
    expect(bound.sensitivity).toBeGreaterThan(0.965); // 500 positives: the 95% lower bound passes 0.95 near 96.8% observed
    expect(bound.rule).toBe('sens-bound:0.95');
    expect(() => parseThresholdRule('sens-bound:2')).toThrow(/sens-bound/);
  });
});
