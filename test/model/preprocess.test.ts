import { describe, expect, it } from 'vitest';
import { CAFFE_MEAN_BGR, caffePreprocess } from '../../src/model/preprocess.js';

describe('caffePreprocess', () => {
  it('swaps RGB to BGR and subtracts the ImageNet means', () => {
    const out = caffePreprocess(Uint8Array.from([10, 20, 30, 255, 0, 128]));
    expect(Array.from(out)).toEqual([
      Math.fround(30 - 103.939),
      Math.fround(20 - 116.779),
      Math.fround(10 - 123.68),
      Math.fround(128 - 103.939),
      Math.fround(0 - 116.779),
      Math.fround(255 - 123.68),
    ]);
    expect(CAFFE_MEAN_BGR).toEqual([103.939, 116.779, 123.68]);
  });

  it('writes at an offset into a batch buffer and rejects bad sizes', () => {
    const batch = new Float32Array(6);
    caffePreprocess(Uint8Array.from([0, 0, 0]), batch, 3);
    expect(batch[0]).toBe(0);
    expect(batch[3]).toBeCloseTo(-103.939, 3);
    expect(() => caffePreprocess(Uint8Array.from([1, 2]))).toThrow(/multiple of 3/);
    expect(() => caffePreprocess(Uint8Array.from([1, 2, 3]), new Float32Array(3), 1)).toThrow(/too small/);
  });
});
