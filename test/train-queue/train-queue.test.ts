import { describe, expect, it } from 'vitest';
import { averageHeads, combineStats } from '../../src/train-queue/averaging.js';
import { decodeHead, encodeHead } from '../../src/train-queue/codec.js';
import { foldNorm } from '../../src/model/train/fold-norm.js';
import { selectBest, shouldStopEarly } from '../../src/train-queue/selection.js';
import { shardsForEpoch } from '../../src/train-queue/sharding.js';
import { staleReason } from '../../src/train-queue/stale.js';
import { recipeFromFlags } from '../../src/cli/commands/train.js';
import type { ShardResult } from '../../src/train-queue/types.js';

const items = [
  ...Array.from({ length: 30 }, (_, i) => ({ id: `n${i}`, label: 0 })),
  ...Array.from({ length: 70 }, (_, i) => ({ id: `p${i}`, label: 1 })),
];
const ids = (s: { id: string }[][]) => s.map((x) => x.map((i) => i.id));

describe('stratified sharding per epoch', () => {
  it('puts every sample in exactly one shard, shard sizes within one', () => {
    for (const k of [1, 2, 3, 4, 7]) {
      const shards = shardsForEpoch(items, k, 42, 3);
      expect(shards).toHaveLength(k);
      const all = shards
        .flat()
        .map((i) => i.id)
        .sort();
      expect(all).toEqual(items.map((i) => i.id).sort());
      const sizes = shards.map((s) => s.length);
      expect(Math.max(...sizes) - Math.min(...sizes)).toBeLessThanOrEqual(1);
    }
  });

  it('keeps the class ratio in every shard (within one sample per class)', () => {
    for (const k of [2, 4]) {
      for (const s of shardsForEpoch(items, k, 7, 1)) {
        const pos = s.filter((i) => i.label === 1).length;
        expect(Math.abs(pos - 70 / k)).toBeLessThanOrEqual(1);
        expect(Math.abs(s.length - pos - 30 / k)).toBeLessThanOrEqual(1);
      }
    }
  });

  it('differs between epochs and is reproducible from the seed', () => {
    expect(ids(shardsForEpoch(items, 2, 42, 1))).toEqual(ids(shardsForEpoch(items, 2, 42, 1)));
    expect(ids(shardsForEpoch(items, 2, 42, 1))).not.toEqual(ids(shardsForEpoch(items, 2, 42, 2)));
    expect(ids(shardsForEpoch(items, 2, 42, 1))).not.toEqual(ids(shardsForEpoch(items, 2, 43, 1)));
    expect(() => shardsForEpoch(items, 0, 1, 1)).toThrow(/positive integer/);
  });
});

describe('sample-weighted averaging', () => {
  it('weights each shard by the samples it saw', () => {
    const a = { kernel: Float32Array.from([1, 2, 3]), bias: 1, samples: 10 };
    const b = { kernel: Float32Array.from([3, 6, -3]), bias: -1, samples: 30 };
    const m = averageHeads([a, b]);
    expect(Array.from(m.kernel)).toEqual([2.5, 5, -1.5]);
    expect(m.bias).toBeCloseTo(-0.5, 12);
    expect(m.samples).toBe(40);
    expect(Array.from(averageHeads([a]).kernel)).toEqual([1, 2, 3]);
    expect(() => averageHeads([])).toThrow();
    expect(() => averageHeads([a, { ...b, kernel: new Float32Array(2) }])).toThrow(/length/);
  });

  it('averaging commutes with folding the standardisation back (what the exported head holds)', () => {
    const mean = Float32Array.from([1, -2, 0.5]);
    const std = Float32Array.from([2, 0.5, 4]);
    const a = { kernel: Float32Array.from([0.3, -0.1, 0.7]), bias: 0.2, samples: 3 };
    const b = { kernel: Float32Array.from([-0.5, 0.4, 0.1]), bias: -0.4, samples: 5 };
    const m = averageHeads([a, b]);
    const folded = foldNorm(m.kernel, m.bias, mean, std);
    const fa = foldNorm(a.kernel, a.bias, mean, std);
    const fb = foldNorm(b.kernel, b.bias, mean, std);
    const viaRaw = averageHeads([
      { ...fa, samples: 3 },
      { ...fb, samples: 5 },
    ]);
    for (let j = 0; j < 3; j++) expect(folded.kernel[j]).toBeCloseTo(viaRaw.kernel[j], 5);
    expect(folded.bias).toBeCloseTo(viaRaw.bias, 5);
  });

  it('combines shard sums into the exact global mean and std', () => {
    const rows = [
      [1, 10],
      [3, 10],
      [5, 40],
      [7, 20],
    ];
    const part = (r: number[][]) => ({
      n: r.length,
      sum: Float64Array.from([0, 1].map((j) => r.reduce((s, x) => s + x[j], 0))),
      sumSq: Float64Array.from([0, 1].map((j) => r.reduce((s, x) => s + x[j] ** 2, 0))),
    });
    const st = combineStats([part(rows.slice(0, 1)), part(rows.slice(1))]);
    expect(st.n).toBe(4);
    expect(st.mean[0]).toBeCloseTo(4, 6);
    expect(st.std[0]).toBeCloseTo(Math.sqrt(5), 5);
    expect(st.mean[1]).toBeCloseTo(20, 6);
    expect(st.std[1]).toBeCloseTo(Math.sqrt(150), 4);
  });

  it('round-trips head state bytes', () => {
    const k = Float32Array.from({ length: 2048 }, (_, i) => Math.sin(i));
    const h = decodeHead(encodeHead(k, 0.25));
    expect(Array.from(h.kernel)).toEqual(Array.from(k));
    expect(h.bias).toBe(0.25);
  });
});

describe('best checkpoint and early stopping', () => {
  const h = (losses: number[]) => losses.map((valLoss, i) => ({ epoch: i + 1, valLoss }));
  it('picks the lowest validation loss from min-epochs on, earliest on ties', () => {
    expect(selectBest(h([0.1, 0.5, 0.4, 0.3, 0.3]), 3)).toBe(4);
    expect(selectBest(h([0.1, 0.5, 0.4]), 1)).toBe(1);
    expect(selectBest(h([0.1, 0.5]), 5)).toBe(2); // none eligible yet: the last
    expect(selectBest([], 1)).toBeNull();
  });
  it('stops after `patience` epochs past min-epochs without improvement', () => {
    expect(shouldStopEarly(h([0.9, 0.1, 0.5, 0.6]), 1, 2)).toBe(true);
    expect(shouldStopEarly(h([0.9, 0.1, 0.5, 0.6]), 1, 3)).toBe(false);
    expect(shouldStopEarly(h([0.1, 0.5, 0.6, 0.4]), 3, 1)).toBe(false); // epochs before min-epochs do not count
    expect(shouldStopEarly(h([0.1, 0.5, 0.6, 0.7]), 3, 1)).toBe(true);
  });
});

describe('stale shard results', () => {
  const want = { runId: 'r', epoch: 3, shard: 1, shards: 2, base: 'abc' };
  const ok: ShardResult = {
    ...want,
    vectors: 10,
    samples: 10,
    lossSum: 5,
    correct: 7,
    seconds: 1,
    featureSeconds: 0,
    extracted: 0,
    host: 'h',
    pid: 1,
    finishedAt: '',
  };
  it("accepts a result of this round that started from this round's global state", () => {
    expect(staleReason(ok, want, 8196, 8196)).toBeNull();
  });
  it('rejects results of another epoch, shard layout, base state or run, and missing or truncated ones', () => {
    expect(staleReason(undefined, want)).toBe('no result');
    expect(staleReason({ ...ok, epoch: 2 }, want)).toMatch(/epoch 2/);
    expect(staleReason({ ...ok, base: 'old' }, want)).toMatch(/state old/);
    expect(staleReason({ ...ok, shards: 4 }, want)).toMatch(/shard/);
    expect(staleReason({ ...ok, runId: 'x' }, want)).toMatch(/run x/);
    expect(staleReason({ ...ok, samples: 0 }, want)).toMatch(/no samples/);
    expect(staleReason(ok, want, 100, 8196)).toMatch(/bytes/);
  });
});

describe('train CLI recipe', () => {
  it('uses the training recipe parser: defaults, flags, validation', () => {
    const r = recipeFromFlags('s3://b/p', { lr: '0.01', minEpochs: '2', optimizer: 'sgd' });
    expect(r).toMatchObject({ lr: 0.01, minEpochs: 2, optimizer: 'sgd', epochs: 60, dropout: 0.3, valFraction: 0.2 });
    expect(r).not.toHaveProperty('workers');
    expect(() => recipeFromFlags('s3://b/p', { optimizer: 'lion' })).toThrow(/optimizer/);
    expect(() => recipeFromFlags('s3://b/p', { dropout: '1' })).toThrow(/dropout/);
  });
});
