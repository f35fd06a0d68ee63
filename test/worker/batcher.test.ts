import { describe, expect, it } from 'vitest';
import { Batcher } from '../../src/worker/shared-inference/batcher.js';

const SIZE = 3; // floats per image

/** n images whose floats all carry their own id. */
const images = (ids: number[]) => Float32Array.from(ids.flatMap((id) => Array(SIZE).fill(id)));

describe('Batcher (dynamic batching of --inference shared)', () => {
  it("merges slots' batches up to maxBatch and gives each slot its own images' results, in order", async () => {
    const calls: number[][] = [];
    // The "model" answers each image's id: a result in the wrong place would show.
    const run = async (input: Float32Array, n: number) => {
      const ids = Array.from({ length: n }, (_, i) => input[i * SIZE]);
      calls.push(ids);
      await new Promise((r) => setTimeout(r, 20));
      return Float32Array.from(ids);
    };
    const batches: number[] = [];
    const b = new Batcher(run, 5, 30, (n) => batches.push(n));
    const asks = [[1, 2], [3, 4], [5], [6, 7, 8], [9, 10, 11, 12, 13, 14]];
    const results = await Promise.all(asks.map((ids) => b.submit(images(ids), ids.length)));
    expect(results.map((r) => [...r])).toEqual(asks);
    // First call: the three requests that fit in 5 images; a larger request than maxBatch runs alone.
    expect(calls[0]).toEqual([1, 2, 3, 4, 5]);
    expect(calls).toContainEqual([9, 10, 11, 12, 13, 14]);
    expect(calls.flat().sort((a, b) => a - b)).toEqual(asks.flat());
    expect(batches.reduce((s, n) => s + n, 0)).toBe(14);
  });

  it('a lone request runs after the wait; a failed call rejects every request in it, and the next still runs', async () => {
    let fail = true;
    const run = async (input: Float32Array, n: number) => {
      if (fail) throw new Error('device lost');
      return new Float32Array(n).fill(0.5);
    };
    const b = new Batcher(run, 8, 10);
    const t0 = Date.now();
    const both = await Promise.allSettled([b.submit(images([1]), 1), b.submit(images([2]), 1)]);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(9);
    expect(both.map((r) => r.status)).toEqual(['rejected', 'rejected']);
    expect((both[0] as PromiseRejectedResult).reason.message).toBe('device lost');
    fail = false;
    expect([...(await b.submit(images([3]), 1))]).toEqual([0.5]);
  });
});
