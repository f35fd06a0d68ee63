import { readFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defaultModelDir, loadClassifier, type PneumoniaClassifier } from '../../src/model/classifier.js';
import { loadEngine } from '../../src/model/engine.js';
import { caffePreprocess } from '../../src/model/preprocess.js';
import { decodeToRgb } from '../../src/shared/image/decode.js';
import { datasetFiles } from '../helpers/dataset.js';

const PX = 224 * 224 * 3;

describe('ONNX engine vs TF.js on real X-rays (shipped model, export cached in models/.cache/onnx)', () => {
  let tfjs: PneumoniaClassifier;
  let onnx: PneumoniaClassifier;
  const files = [...datasetFiles('NORMAL', 4, 10), ...datasetFiles('PNEUMONIA', 4, 10)];
  const input = new Float32Array(files.length * PX);

  beforeAll(async () => {
    for (const [i, f] of files.entries())
      caffePreprocess((await decodeToRgb(await readFile(f), 224)).rgb, input, i * PX);
    tfjs = await loadClassifier({ modelUri: defaultModelDir() });
    onnx = await loadEngine({ engine: 'onnx', modelUri: defaultModelDir(), threads: 2 });
  });
  afterAll(() => {
    tfjs?.dispose();
    onnx?.dispose();
  });

  it('reports the same model, on onnxruntime', () => {
    expect(onnx.info).toEqual(tfjs.info);
    expect(onnx.backend).toMatch(/^onnxruntime-(cpu|cuda)$/);
  });

  it('gives the same probabilities within 1e-4 and the same labels at the threshold', async () => {
    const [a, b] = [await tfjs.predict(input, files.length), await onnx.predict(input, files.length)];
    expect(b).toHaveLength(files.length);
    const diffs = Array.from(a, (p, i) => Math.abs(p - b[i]));
    expect(Math.max(...diffs)).toBeLessThan(1e-4);
    const t = tfjs.info.threshold;
    expect(Array.from(b, (p) => p >= t)).toEqual(Array.from(a, (p) => p >= t));
    // not a degenerate model: the two classes are told apart
    expect(new Set(Array.from(b, (p) => p >= t)).size).toBe(2);
  });

  it('gives the same pooled features and OOD distances on both engines', async () => {
    const [a, b] = [await tfjs.score!(input, files.length), await onnx.score!(input, files.length)];
    expect(a.features).toHaveLength(files.length * 2048);
    expect(b.features).toHaveLength(files.length * 2048);
    expect(Math.max(...Array.from(a.features!, (x, i) => Math.abs(x - b.features![i])))).toBeLessThan(1e-3);
    expect(onnx.info.oodThreshold).toBe(tfjs.info.oodThreshold);
    if (tfjs.info.oodThreshold !== undefined) {
      expect(Math.max(...Array.from(a.ood!, (d, i) => Math.abs(d - b.ood![i]) / d))).toBeLessThan(1e-3);
      // The shared training X-rays lie inside the training distribution.
      expect(Array.from(b.ood!).filter((d) => d > tfjs.info.oodThreshold!).length).toBeLessThanOrEqual(1);
    }
  });

  it('scores one image the same alone as in the batch, and rejects a wrongly sized input', async () => {
    const one = await onnx.predict(input.subarray(5 * PX, 6 * PX), 1);
    const all = await onnx.predict(input, files.length);
    expect(Math.abs(one[0] - all[5])).toBeLessThan(1e-5);
    await expect(onnx.predict(new Float32Array(PX), 2)).rejects.toThrow(/expected 2x224x224x3/);
  });
});
