import { describe, expect, it } from 'vitest';
import { foldBatchNorm } from '../../src/model/onnx/bn-fold.js';
import { hwioToOihw } from '../../src/model/onnx/layout.js';
import { windowPads, zeroPaddingPads } from '../../src/model/onnx/padding.js';
import { threadsPerProcess } from '../../src/model/onnx/ort-session.js';
import { parseEngine } from '../../src/model/engine.js';
import { defaultOnnxOut } from '../../src/cli/commands/export-onnx.js';

describe('ONNX exporter pure parts', () => {
  it('moves a HWIO kernel to OIHW', () => {
    // kh=1, kw=2, in=2, out=3: value encodes (h, w, i, o) as w*100 + i*10 + o
    const hwio = Float32Array.from([0, 1, 2, 10, 11, 12, 100, 101, 102, 110, 111, 112]);
    const { data, dims } = hwioToOihw(hwio, [1, 2, 2, 3]);
    expect(dims).toEqual([3, 2, 1, 2]);
    // OIHW index ((o*2 + i)*1 + h)*2 + w
    expect(Array.from(data)).toEqual([0, 100, 10, 110, 1, 101, 11, 111, 2, 102, 12, 112]);
    expect(() => hwioToOihw(hwio, [1, 2, 2, 2])).toThrow(/bad kernel shape/);
  });

  it('folds batch norm into conv weights and bias per output channel', () => {
    const w = Float32Array.from([1, 2, 3, 4]); // 2 output channels x 2 weights
    const bn = {
      gamma: Float32Array.from([2, 0.5]),
      beta: Float32Array.from([1, -1]),
      mean: Float32Array.from([0.5, 2]),
      variance: Float32Array.from([3, 0.25]),
      epsilon: 1,
    };
    const r = foldBatchNorm(w, Float32Array.from([1.5, 0]), 2, bn);
    // s = [2/2, 0.5/sqrt(1.25)]
    const s1 = 0.5 / Math.sqrt(1.25);
    expect(Array.from(r.weight)).toEqual([1, 2, Math.fround(3 * s1), Math.fround(4 * s1)]);
    expect(r.bias[0]).toBeCloseTo((1.5 - 0.5) * 1 + 1, 6);
    expect(r.bias[1]).toBeCloseTo((0 - 2) * s1 - 1, 6);
    // y = conv(x) for x = [1, 1]: folded equals BN(conv) for channel 1
    const conv1 = 3 + 4 + 0;
    expect(2 * 0 + r.weight[2] + r.weight[3] + r.bias[1]).toBeCloseTo((0.5 * (conv1 - 2)) / Math.sqrt(1.25) - 1, 5);
    expect(() => foldBatchNorm(w, undefined, 2, { ...bn, mean: Float32Array.from([1]) })).toThrow(/mean has 1 values/);
  });

  it('computes TF "same" pads with the extra pixel at the end', () => {
    expect(windowPads('same', [224, 224], [3, 3], [2, 2])).toEqual([0, 0, 1, 1]);
    expect(windowPads('same', [7, 9], [3, 3], [1, 1])).toEqual([1, 1, 1, 1]);
    expect(windowPads('same', [56, 56], [1, 1], [2, 2])).toEqual([0, 0, 0, 0]);
    expect(windowPads('valid', [56, 56], [7, 7], [2, 2])).toEqual([0, 0, 0, 0]);
    expect(() => windowPads('causal', [5, 5], [3, 3], [1, 1])).toThrow(/causal/);
    expect(
      zeroPaddingPads([
        [3, 2],
        [1, 0],
      ]),
    ).toEqual([3, 1, 2, 0]);
    expect(zeroPaddingPads(2)).toEqual([2, 2, 2, 2]);
  });

  it('sizes ONNX threads from the cores shared by the worker processes', () => {
    expect(threadsPerProcess({ CXR_WORKER_CONCURRENCY: '2' }, 2)).toBe(1);
    expect(threadsPerProcess({ CXR_WORKER_CONCURRENCY: '1' }, 2)).toBe(2);
    expect(threadsPerProcess({ CXR_WORKER_CONCURRENCY: '3' }, 16)).toBe(5);
    expect(threadsPerProcess({ CXR_WORKER_CONCURRENCY: '8' }, 2)).toBe(1);
    expect(threadsPerProcess({}, 4)).toBe(4);
  });

  it('parses the engine choice', () => {
    expect(parseEngine(undefined)).toBe('auto');
    expect(parseEngine('ONNX')).toBe('onnx');
    expect(parseEngine('tfjs')).toBe('tfjs');
    expect(parseEngine('onnx-INT8')).toBe('onnx-int8');
    expect(() => parseEngine('pytorch')).toThrow(/not one of tfjs, onnx, onnx-int8, auto/);
  });
});

describe('cxr models export-onnx default output', () => {
  it('is the ONNX cache (by model id) for a local model, and model.onnx beside an S3 model', () => {
    expect(defaultOnnxOut('models/pneumonia-resnet50', 'abcdef0123456789', '/c/onnx')).toBe(
      '/c/onnx/abcdef0123456789.f.onnx',
    ); // .f: the export with its pooled-features output;
    expect(defaultOnnxOut('s3://bkt/models/pn/', 'abcdef0123456789')).toBe('s3://bkt/models/pn/model.onnx');
  });
});
