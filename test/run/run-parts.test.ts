import { describe, expect, it } from 'vitest';
import { mergeParts } from '../../src/run/merge-parts.js';
import { batchJob } from '../../src/run/enqueue-batches.js';
import { batchJobId, chunk, assertRunId } from '../../src/run/batching.js';
import { generationOfKey, partOfKey, runLayout } from '../../src/run/layout.js';
import type { FailureLine, PredictionLine, RunHeader, RunItem } from '../../src/run/types.js';

const item = (key: string): RunItem => ({ key, etag: `e-${key}`, size: 1 });
const pred = (key: string, probability = 0.9): PredictionLine => ({
  type: 'prediction',
  key,
  etag: `e-${key}`,
  label: probability >= 0.5 ? 'PNEUMONIA' : 'NORMAL',
  probability,
  threshold: 0.5,
  modelId: 'm',
  modelName: 'n',
  modelVersion: '1',
  timings: { downloadMs: 1, decodeMs: 1, inferenceMs: 1 },
});
const failure = (key: string): FailureLine => ({
  type: 'failure',
  key,
  etag: `e-${key}`,
  stage: 'decode',
  reason: 'bad',
});

describe('mergeParts', () => {
  it('puts every key exactly once, a later prediction beating an earlier failure', () => {
    const items = ['a', 'b', 'c', 'd'].map(item);
    const merged = mergeParts(items, [[pred('a'), failure('b')], [failure('c')], [pred('b', 0.1)]]);
    expect(merged.predictions.map((p) => p.key)).toEqual(['a', 'b']);
    expect(merged.predictions[1].probability).toBe(0.1);
    expect(merged.failures.map((f) => [f.key, f.reason])).toEqual([
      ['c', 'bad'],
      ['d', 'no result was recorded for this key'],
    ]);
  });

  it('ignores keys that are not in the manifest, and names missing keys with the given reason', () => {
    const merged = mergeParts([item('a'), item('b')], [[pred('a'), pred('zzz')]], () => ({
      stage: 'batch',
      reason: 'not scored: the run failed: x',
    }));
    expect(merged.predictions.map((p) => p.key)).toEqual(['a']);
    expect(merged.failures).toMatchObject([{ key: 'b', stage: 'batch', reason: 'not scored: the run failed: x' }]);
  });
});

describe('batches and layout', () => {
  it('chunks and numbers batches with deterministic job ids; a later generation keeps the batch id', () => {
    expect(chunk([1, 2, 3, 4, 5], 2)).toEqual([[1, 2], [3, 4], [5]]);
    expect(() => chunk([1], 0)).toThrow(/positive integer/);
    const header: RunHeader = {
      runId: 'r1',
      createdAt: '',
      batchSize: 2,
      batchesPerShard: 3,
      labelsFrom: 'key-folders',
      source: { bucket: 'b', prefix: 'in/' },
      out: { bucket: 'b', prefix: 'out' },
    };
    // Generation 0 names its shard and line range; batch 4 is the second batch of shard 1.
    expect([0, 1, 4].map((b) => batchJob(header, b, 0)).map((j) => [j.jobId, j.data.shard, j.data.items])).toEqual([
      ['r1-b000000', { key: 'out/r1/manifest/000000.jsonl', start: 0, end: 2 }, undefined],
      ['r1-b000001', { key: 'out/r1/manifest/000000.jsonl', start: 2, end: 4 }, undefined],
      ['r1-b000004', { key: 'out/r1/manifest/000001.jsonl', start: 2, end: 4 }, undefined],
    ]);
    const later = batchJob(header, 1, 3, { planShard: 'out/r1/generations/000003/t/000000.jsonl' });
    expect([later.jobId, later.data.planShard, later.data.items, later.data.shard]).toEqual([
      'r1-b000001-g3',
      'out/r1/generations/000003/t/000000.jsonl',
      undefined,
      undefined,
    ]);
    expect(batchJob(header, 1, 3, { items: [item('c')] }).data.items).toEqual([item('c')]); // a previous version's plan
    expect(() => batchJob(header, 1, 3)).toThrow(/needs its planned keys/);
    expect(batchJobId('r1', 5)).not.toContain(':');
  });

  it('rejects run ids that would break keys or job ids', () => {
    expect(() => assertRunId('a:b')).toThrow(/invalid run id/);
    expect(() => assertRunId('../x')).toThrow(/invalid run id/);
    expect(assertRunId('run-2026.1_x')).toBe('run-2026.1_x');
  });

  it('lays out run objects and recognises part and generation keys', () => {
    const l = runLayout({ bucket: 'b', prefix: 'results/' }, 'r1');
    expect(l.part(3)).toBe('results/r1/parts/000003.jsonl');
    expect(l.part(3, 2)).toBe('results/r1/parts/000003.g2.jsonl');
    expect(l.metrics).toBe('results/r1/metrics.json');
    expect(partOfKey(l.part(12))).toEqual({ batch: 12, generation: 0 });
    expect(partOfKey(l.part(12, 4))).toEqual({ batch: 12, generation: 4 });
    expect(partOfKey(l.partMeta(12))).toBeUndefined();
    expect(partOfKey(l.partMeta(12, 4))).toBeUndefined();
    expect(generationOfKey(l.generation(7))).toBe(7);
  });
});

describe('predictions.csv', () => {
  it('quotes fields as RFC 4180 asks, so a CSV parser reads the keys back', async () => {
    const { parse } = await import('csv-parse/sync');
    const { predictionsCsv } = await import('../../src/run/merge-run.js');
    const keys = ['plain.png', 'a,b.png', 'say "hi".png', 'two\nlines.png'];
    const rows = parse(predictionsCsv(keys.map((k) => pred(k, 0.25))), { columns: true }) as Record<string, string>[];
    expect(rows.map((r) => r.key)).toEqual(keys);
    expect(rows[0]).toEqual({
      key: 'plain.png',
      etag: 'e-plain.png',
      label: 'NORMAL',
      probability: '0.25',
      threshold: '0.5',
      model_id: 'm',
      model_version: '1',
      true_label: '',
    });
  });
});
