import * as tf from '@tensorflow/tfjs';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { exportKerasGraph } from '../../src/model/onnx/export-graph.js';
import { kerasGraphOf } from '../../src/model/onnx/keras-graph.js';
import { importOrt } from '../../src/model/onnx/ort-session.js';
import { onnx } from '../../src/model/onnx/proto.js';
import { encodeModel } from '../../src/model/onnx/writer.js';
import { collectHistograms, scoreInputs } from '../../src/model/onnx/int8/calibrate.js';
import { planQdq, quantizeBias, quantizeModel, quantizeWeights } from '../../src/model/onnx/int8/qdq.js';
import {
  entropyRange,
  minMaxRange,
  parseMethod,
  percentileRange,
  rangeOf,
  TensorHistogram,
  uint8Params,
} from '../../src/model/onnx/int8/ranges.js';
import {
  cardSection,
  heldOutParity,
  parityReport,
  scoreAgreement,
  withCardSection,
} from '../../src/model/onnx/int8/parity.js';

type T = tf.SymbolicTensor;
const ort = await importOrt();

describe('INT8 ranges', () => {
  const hist = (values: number[]) => {
    const h = new TensorHistogram(
      values.reduce((m, v) => Math.max(m, Math.abs(v)), 0),
      1000,
    );
    h.add(Float32Array.from(values));
    return h;
  };

  it('percentile clips the rare outlier that min/max keeps; one-sided data stays one-sided', () => {
    const values = [...Array.from({ length: 100_000 }, (_, i) => (i % 1000) / 100), 500]; // 0..9.99 and one 500
    const h = hist(values);
    expect(minMaxRange(h)).toEqual({ lo: 0, hi: 500 });
    const p = percentileRange(h, 0.9999);
    expect(p.lo).toBe(0);
    expect(p.hi).toBeGreaterThanOrEqual(9.99);
    expect(p.hi).toBeLessThan(11);
  });

  it('percentile keeps both tails of signed data', () => {
    const h = hist(Array.from({ length: 20_000 }, (_, i) => ((i % 2 ? 1 : -1) * (i % 100)) / 10));
    const r = percentileRange(h, 0.999);
    expect(r.lo).toBeLessThan(-9);
    expect(r.hi).toBeGreaterThan(9);
  });

  it('entropy cuts a long thin tail but keeps the bulk', () => {
    // Bulk uniform on [0, 4), a thin tail out to 100.
    const values = [
      ...Array.from({ length: 200_000 }, (_, i) => (i % 4000) / 1000),
      ...Array.from({ length: 20 }, (_, i) => 5 + i * 5),
    ];
    const r = entropyRange(hist(values), 255);
    expect(r.hi).toBeGreaterThanOrEqual(3.9);
    expect(r.hi).toBeLessThan(60);
    expect(rangeOf(hist(values), parseMethod('entropy')).lo).toBe(0);
  });

  it('uint8 parameters represent 0 exactly and span the range', () => {
    expect(uint8Params({ lo: 0, hi: 25.5 })).toEqual({ scale: 0.1, zeroPoint: 0 });
    const p = uint8Params({ lo: -1, hi: 3 });
    expect(p.zeroPoint).toBe(Math.round(1 / p.scale));
    expect(uint8Params({ lo: 0, hi: 0 })).toEqual({ scale: 1, zeroPoint: 0 });
    expect(() => parseMethod('percentile:0.5')).toThrow(/fraction/);
    expect(() => parseMethod('kl')).toThrow(/not one of/);
  });

  it('weights: symmetric per channel; bias at input scale x weight scale', () => {
    const { q, scales } = quantizeWeights(Float32Array.from([1, -0.5, 0.25, 0, 10, -20]), 2);
    expect(Array.from(scales)).toEqual([Math.fround(1 / 127), Math.fround(20 / 127)]);
    expect(Array.from(q)).toEqual([127, -64, 32, 0, 64, -127]);
    const b = quantizeBias(Float32Array.from([0.5, -1]), 0.1, scales);
    expect(b.q[0]).toBe(Math.round(0.5 / Math.fround(Math.fround(0.1) * scales[0])));
  });
});

describe('parity report', () => {
  it('counts changed decisions at the threshold and the AUC change', () => {
    const truth = [true, true, false, false];
    const fp32 = [0.9, 0.8, 0.3, 0.1];
    const int8 = [0.91, 0.79, 0.55, 0.1];
    const a = scoreAgreement(fp32, int8, 0.5);
    expect(a.decisionsChanged).toBe(1);
    expect(a.maxScoreDiff).toBeCloseTo(0.25);
    const r = parityReport(truth, fp32, int8, 0.5);
    expect(r.aucChange).toBe(0);
    expect(r.pass).toBe(false); // 75% agreement
    expect(parityReport(truth, fp32, fp32, 0.5).pass).toBe(true);
    const section = cardSection({
      ...r,
      modelId: 'm',
      split: { seed: 42, valFraction: 0.2 },
      calibration: { method: 'minmax', images: 3, keepFp32: [] },
    });
    const once = withCardSection('# card\n', section);
    expect(withCardSection(once, section)).toBe(once); // replaced, not appended again
    expect(once).toMatch(/does NOT hold/);
    expect(once).toMatch(/INT8 is therefore NOT the default engine/);
  });

  it('held-out patients: accuracy within half a point of FP32, whatever the agreement', () => {
    // 200 images, threshold 0.5: INT8 flips one correct decision (0.5 points) or two (1 point).
    const truth = Array.from({ length: 200 }, (_, i) => i % 2 === 0);
    const fp32 = truth.map((t) => (t ? 0.9 : 0.1));
    const oneFlip = fp32.map((p, i) => (i === 0 ? 0.4 : p));
    const twoFlips = fp32.map((p, i) => (i < 3 && i % 2 === 0 ? 0.4 : p));
    const one = heldOutParity(truth, fp32, oneFlip, 0.5, 100);
    expect(one.accuracyChange).toBeCloseTo(-0.005, 10);
    expect(one.pass).toBe(true);
    const two = heldOutParity(truth, fp32, twoFlips, 0.5, 100);
    expect(two.accuracyChange).toBeCloseTo(-0.01, 10);
    expect(two.pass).toBe(false);
    const r = parityReport(truth, fp32, fp32, 0.5);
    const card = cardSection({
      ...r,
      modelId: 'm',
      split: { seed: 42, valFraction: 0.2 },
      calibration: { method: 'minmax', images: 3, keepFp32: [] },
      heldOut: two,
    });
    expect(card).toMatch(/200 images of the 100 held-out patients/);
    expect(card).toMatch(/Accuracy change -1\.00 points \(limit ±0\.5\).*NOT within the limit/);
    expect(card).toMatch(/INT8 is therefore NOT the default engine/);
  });
});

/** A small ResNet-like graph at the real input size: conv+BN+relu, max pool, a residual block with a projection. */
function tinyResNet(): tf.LayersModel {
  const input = tf.input({ shape: [224, 224, 3], name: 'img' });
  let x = tf.layers.conv2d({ filters: 8, kernelSize: 7, strides: 8, padding: 'same', name: 'c0' }).apply(input) as T;
  x = tf.layers.batchNormalization({ name: 'bn0' }).apply(x) as T;
  x = tf.layers.activation({ activation: 'relu', name: 'r0' }).apply(x) as T;
  x = tf.layers.maxPooling2d({ poolSize: 3, strides: 2, padding: 'same', name: 'mp' }).apply(x) as T;
  let y = tf.layers.conv2d({ filters: 16, kernelSize: 3, padding: 'same', name: 'c1' }).apply(x) as T;
  y = tf.layers.activation({ activation: 'relu', name: 'r1' }).apply(y) as T;
  y = tf.layers.conv2d({ filters: 16, kernelSize: 1, name: 'c2' }).apply(y) as T;
  const s = tf.layers.conv2d({ filters: 16, kernelSize: 1, name: 'proj' }).apply(x) as T;
  x = tf.layers.add({ name: 'sum' }).apply([y, s]) as T;
  x = tf.layers.activation({ activation: 'relu', name: 'r2' }).apply(x) as T;
  x = tf.layers.globalAveragePooling2d({ name: 'gap' }).apply(x) as T;
  const out = tf.layers.dense({ units: 1, activation: 'sigmoid', name: 'head' }).apply(x) as T;
  const m = tf.model({ inputs: input, outputs: out });
  for (const l of m.layers) {
    const ws = l.getWeights();
    if (ws.length)
      l.setWeights(
        ws.map((w, i) =>
          l.getClassName() === 'BatchNormalization' && i === 3
            ? tf.randomUniform(w.shape, 0.5, 2, 'float32', 3 + i)
            : tf.randomNormal(w.shape, 0, 0.05, 'float32', 11 + i),
        ),
      );
  }
  return m;
}

describe('quantizeModel (QDQ) on ONNX Runtime', () => {
  it('is fused into QLinearConv / QLinearAdd and stays close to FP32', async () => {
    const proto = exportKerasGraph(kerasGraphOf(tinyResNet()), {
      metadata: { modelId: 'tiny' },
      inputName: 'input',
      outputName: 'out',
    });
    const fp32 = encodeModel(proto);
    const plan = planQdq(proto.graph!);
    expect(plan.quantOps.length).toBe(5); // 4 Conv + 1 Add
    expect([...plan.fusedRelu.values()].sort()).toEqual(['bn0', 'c1', 'sum'].sort());
    expect(() => planQdq(proto.graph!, new Set(['nope']))).toThrow(/--keep-fp32 nope/);

    const n = 12;
    const inputs = Float32Array.from(
      { length: n * 224 * 224 * 3 },
      (_, i) => ((i * 7919) % 255) - 120 + 30 * Math.sin(i / 5000),
    );
    const hists = await collectHistograms(ort, fp32, plan.calibrate, inputs, { threads: 1, batch: 4 });
    const ranges = Object.fromEntries([...hists].map(([t, h]) => [t, rangeOf(h, { method: 'minmax' })]));
    const int8 = encodeModel(quantizeModel(onnx.ModelProto.decode(fp32), { ranges, metadata: { quant: 'x' } }));

    const dir = mkdtempSync(path.join(os.tmpdir(), 'int8-test-'));
    try {
      const optimized = path.join(dir, 'opt.onnx');
      const s = await ort.InferenceSession.create(int8, {
        graphOptimizationLevel: 'all',
        optimizedModelFilePath: optimized,
        executionProviders: ['cpu'],
      });
      await s.release();
      const ops = onnx.ModelProto.decode(readFileSync(optimized)).graph!.node!.map((x) => x.opType);
      expect(ops.filter((o) => o === 'QLinearConv').length).toBe(4);
      expect(ops).toContain('QLinearAdd');
      expect(ops).not.toContain('Conv');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    const a = await scoreInputs(ort, fp32, inputs, { threads: 1 });
    const b = await scoreInputs(ort, int8, inputs, { threads: 1 });
    const agree = scoreAgreement(a, b, 0.5);
    expect(agree.meanAbsLogitDiff).toBeLessThan(0.1);
    // Without calibrated ranges for every tensor it refuses, naming what is missing.
    expect(() => quantizeModel(onnx.ModelProto.decode(fp32), { ranges: {} })).toThrow(/no calibrated range/);
  });
});
