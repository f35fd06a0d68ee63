import { describe, expect, it } from 'vitest';
import {
  addPart,
  batchCountsAtStart,
  currentGeneration,
  encodeBatchBits,
  hasPart,
  incompleteBatches,
  latestGeneration,
  mergeOrder,
  partIndexOf,
  planBatch,
  planGenerations,
  plannedItems,
  shardRange,
  type RunRecord,
} from '../../src/run/plan.js';
import { ShardFingerprints } from '../../src/run/checkpoint.js';
import { rocAucSorted, RunTally } from '../../src/run/tally.js';
import { rocAuc } from '../../src/shared/metrics.js';
import {
  allowedFailures,
  judgeEnded,
  judgeRunning,
  parseMaxFailures,
  stallLimits,
  verdictLine,
} from '../../src/run/outcome.js';
import { skipReason } from '../../src/shared/s3/list-images.js';
import { parseManifestLine, splitPage } from '../../src/run/sources.js';
import type { GenerationPlan, PredictionLine, RunItem, RunManifest } from '../../src/run/types.js';

const item = (key: string): RunItem => ({ key, etag: `e-${key}`, size: 1 });
const plan = (generation: number, batches: number[]): GenerationPlan => ({
  runId: 'r',
  generation,
  createdAt: '',
  reason: 'resume',
  batchCount: batches.length,
  keyCount: batches.length,
  shards: [],
  shardsPrefix: '',
  batchBits: encodeBatchBits(batches),
});
const manifest = {
  runId: 'r',
  batchSize: 2,
  batchesPerShard: 2,
  totalBatches: 3,
  totalKeys: 5,
  out: { bucket: 'b', prefix: 'o' },
} as RunManifest;

describe('a run as S3 records it', () => {
  it('gives each batch the generation of the latest plan naming it', () => {
    const record: RunRecord = {
      manifest,
      plans: [plan(2, [2]), plan(1, [1])],
      parts: partIndexOf(
        [
          { batch: 0, generation: 0 },
          { batch: 1, generation: 0 },
          { batch: 2, generation: 0 },
          { batch: 1, generation: 1 },
        ],
        3,
      ),
      fingerprints: new ShardFingerprints(),
    };
    const gens = planGenerations(record.plans);
    expect([0, 1, 2].map((b) => currentGeneration(gens, b))).toEqual([0, 1, 2]);
    expect(latestGeneration(record)).toBe(2);
    expect(plannedItems([{ batch: 1, items: [item('c')] }], 1, 'plan shard x').map((i) => i.key)).toEqual(['c']);
    expect(() => plannedItems([{ batch: 1, items: [item('c')] }], 0, 'plan shard x')).toThrow(
      /plan shard x has no batch 0/,
    );
    // Batch 2's generation-0 part exists, but its current generation (2) has none yet.
    expect(incompleteBatches(record)).toEqual([2]);
    expect(
      mergeOrder([
        { batch: 1, generation: 1 },
        { batch: 2, generation: 0 },
        { batch: 0, generation: 0 },
      ]).map((p) => `${p.batch}.${p.generation}`),
    ).toEqual(['0.0', '2.0', '1.1']);
  });

  it('keeps which parts exist in a bitmap per generation, growing past the planned size', () => {
    const index = partIndexOf([{ batch: 9, generation: 3 }], 4);
    expect(hasPart(index, 9, 3)).toBe(true);
    expect(hasPart(index, 9, 0)).toBe(false);
    expect(hasPart(index, 8, 3)).toBe(false);
    addPart(index, { batch: 100, generation: 3 }, 4);
    expect([hasPart(index, 100, 3), hasPart(index, 9, 3), hasPart(index, 101, 3)]).toEqual([true, true, false]);
  });

  it('places batch b in shard floor(b / batchesPerShard) at lines [i*batchSize, (i+1)*batchSize)', () => {
    expect([0, 1, 2, 5].map((b) => shardRange({ batchSize: 16, batchesPerShard: 2 }, b))).toEqual([
      { shard: 0, start: 0, end: 16 },
      { shard: 0, start: 16, end: 32 },
      { shard: 1, start: 0, end: 16 },
      { shard: 2, start: 16, end: 32 },
    ]);
  });

  it('plans only keys without a prediction and counts what a plan starts from, batch by batch', () => {
    const predicted = new Set(['a', 'b', 'd']);
    expect(planBatch(0, [item('a'), item('b')], predicted)).toBeUndefined();
    expect(planBatch(1, [item('c'), item('d')], predicted)).toEqual({ batch: 1, items: [item('c')] });
    // c's batch is not pending: c keeps its failure; a pending batch's unpredicted keys are not failures yet.
    expect(batchCountsAtStart([item('c'), item('d')], predicted, false)).toEqual({ scored: 1, failed: 1 });
    expect(batchCountsAtStart([item('e')], predicted, true)).toEqual({ scored: 0, failed: 0 });
  });
});

describe('one-pass metrics', () => {
  const line = (trueLabel: 'NORMAL' | 'PNEUMONIA', probability: number): PredictionLine => ({
    type: 'prediction',
    key: 'k',
    etag: '',
    label: probability >= 0.5 ? 'PNEUMONIA' : 'NORMAL',
    probability,
    threshold: 0.5,
    modelId: 'm',
    modelName: 'n',
    modelVersion: '1',
    trueLabel,
    timings: { downloadMs: 0, decodeMs: 0, inferenceMs: 0 },
  });

  it('gives the exact ROC AUC of rank-based rocAuc, ties counting half', () => {
    let seed = 7;
    const rnd = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    const truth = Array.from({ length: 3000 }, () => rnd() < 0.4);
    // Coarse scores (tenths) make many ties across classes.
    const scores = truth.map((t) => Math.round((t ? 0.2 : 0) + rnd() * 10) / 10);
    const f32 = (xs: number[]) => Float32Array.from(xs).sort();
    const auc = rocAucSorted(f32(scores.filter((_, i) => truth[i])), f32(scores.filter((_, i) => !truth[i])));
    expect(auc).toBeCloseTo(
      rocAuc(
        truth,
        scores.map((s) => Math.fround(s)),
      )!,
      12,
    );
    expect(rocAucSorted(f32([0.5]), new Float32Array(0))).toBeNull();
    expect(rocAucSorted(f32([0.9, 0.8]), f32([0.1, 0.2]))).toBe(1);
    expect(rocAucSorted(f32([0.5]), f32([0.5]))).toBe(0.5);
  });

  it('tallies exact confusion counts over labelled predictions only', () => {
    const t = new RunTally();
    [
      line('PNEUMONIA', 0.9),
      line('PNEUMONIA', 0.1),
      line('NORMAL', 0.7),
      line('NORMAL', 0.2),
      line('NORMAL', 0.3),
    ].forEach((p) => t.prediction(p));
    t.prediction({ ...line('NORMAL', 0.4), trueLabel: undefined });
    expect(t.confusion).toEqual({ tp: 1, fn: 1, fp: 1, tn: 2 });
    expect([t.scored, t.labelled]).toEqual([6, 5]);
    const m = t.classification()!;
    expect(m.n).toBe(5);
    expect(m.accuracy).toBeCloseTo(3 / 5, 12);
    expect(m.rocAuc).toBeCloseTo(3 / 6, 12); // 0.9 beats all three negatives, 0.1 none
  });
});

describe('input manifests and listing pages', () => {
  const src = { bucket: 'bkt', prefix: 'in/' };
  it('reads JSON lines ({"key"}, {"source-ref"}, strings) and CSV, keys relative to the source prefix', () => {
    expect(parseManifestLine('{"key":"a/NORMAL/1.png","label":"NORMAL"}', 1, 'm', src)).toEqual({
      key: 'in/a/NORMAL/1.png',
      label: 'NORMAL',
    });
    expect(parseManifestLine('{"source-ref":"s3://bkt/x/2.jpeg"}', 2, 'm', src)).toEqual({ key: 'x/2.jpeg' });
    expect(parseManifestLine('"3.jpeg"', 3, 'm', src)).toEqual({ key: 'in/3.jpeg' });
    expect(parseManifestLine('key,label', 1, 'm', src)).toBeUndefined();
    expect(parseManifestLine('4.jpeg,PNEUMONIA', 2, 'm', src)).toEqual({ key: 'in/4.jpeg', label: 'PNEUMONIA' });
    expect(parseManifestLine('   ', 5, 'm', src)).toBeUndefined();
  });

  it('names the manifest and line of bad input', () => {
    expect(() => parseManifestLine('{"key":', 7, '--manifest s3://bkt/k.jsonl', src)).toThrow(
      /^--manifest s3:\/\/bkt\/k.jsonl line 7: not JSON$/,
    );
    expect(() => parseManifestLine('{"path":"x"}', 2, 'm', src)).toThrow(/m line 2: expected "key"/);
    expect(() => parseManifestLine('{"source-ref":"s3://other/x.png"}', 3, 'm', src)).toThrow(
      /not in the run's bucket bkt/,
    );
    expect(() => parseManifestLine('x.png,MAYBE', 4, 'm', src)).toThrow(/m line 4/);
  });

  it('splits a page into images (in order) and skipped objects, dropping folder markers', () => {
    const o = (key: string) => ({ key, etag: 'e', size: 1 });
    const page = splitPage([o('b.png'), o('a/'), o('c.txt'), o('d.dcm'), o('a.jpeg')]);
    expect(page.images.map((i) => i.key)).toEqual(['b.png', 'd.dcm', 'a.jpeg']);
    expect(page.skipped.map((s) => [s.key, s.reason])).toEqual([['c.txt', skipReason('c.txt')]]);
  });
});

describe('how waiting on a run ends', () => {
  it('parses --max-failures as keys or a percentage', () => {
    expect(parseMaxFailures('0')).toEqual({ count: 0 });
    expect(parseMaxFailures('12')).toEqual({ count: 12 });
    expect(parseMaxFailures('2.5%')).toEqual({ percent: 2.5 });
    expect(() => parseMaxFailures('-1')).toThrow(/--max-failures/);
    expect(() => parseMaxFailures('1.5')).toThrow(/--max-failures/);
    expect(() => parseMaxFailures('101%')).toThrow(/--max-failures/);
    expect(allowedFailures({ percent: 10 }, 300)).toBe(30);
    expect(allowedFailures({ percent: 1 }, 150)).toBe(1);
  });

  it('exits 0 within the allowance, else says too many failures or failed', () => {
    expect(judgeEnded({ status: 'done', failed: 0, totalKeys: 10 }, { count: 0 }).kind).toBe('ok');
    expect(judgeEnded({ status: 'done-with-failures', failed: 3, totalKeys: 100 }, { percent: 3 }).kind).toBe('ok');
    const v = judgeEnded({ status: 'done-with-failures', failed: 4, totalKeys: 100 }, { percent: 3 });
    expect(v).toEqual({ kind: 'too-many-failures', failed: 4, allowed: 3, total: 100 });
    expect(verdictLine('r', v)).toMatch(/too many failures: 4 of 100 keys failed/);
    expect(
      verdictLine(
        'r',
        judgeEnded({ status: 'failed', failed: 0, totalKeys: 1, reason: 'model load failed: ENOENT' }, { count: 0 }),
      ),
    ).toBe('run r: failed: model load failed: ENOENT');
  });

  it('calls a run stuck when no worker is alive (a minute at most) or no batch progressed, saying which', () => {
    const limits = stallLimits(600_000);
    expect(judgeRunning({ sinceProgressMs: 500_000, sinceWorkerMs: 0, missingMs: 0 }, limits)).toBeUndefined();
    expect(judgeRunning({ sinceProgressMs: 70_000, sinceWorkerMs: 60_000, missingMs: 0 }, limits)).toMatchObject({
      why: 'no-worker',
    });
    expect(judgeRunning({ sinceProgressMs: 600_000, sinceWorkerMs: 0, missingMs: 0 }, limits)).toMatchObject({
      why: 'no-progress',
      seconds: 600,
    });
    expect(verdictLine('r', { kind: 'stuck', why: 'no-worker', seconds: 61 })).toMatch(/no worker is alive/);
    // The heartbeats' account of the workers goes into the no-progress line when it was read.
    expect(
      verdictLine('r', {
        kind: 'stuck',
        why: 'no-progress',
        seconds: 600,
        fleet: '2 workers loading the model (9m50s)',
      }),
    ).toBe(
      'run r: stuck: no batch progressed for 600 s (2 workers loading the model (9m50s)); cxr score --resume r re-enqueues what is missing',
    );
  });
});

describe('objects that are not scored', () => {
  it('names the reason, keeps DICOM and extension-less keys as candidates, and ignores folder markers', () => {
    expect(skipReason('a/b.JPEG')).toBeUndefined();
    expect(skipReason('a/scan.dcm')).toBeUndefined();
    expect(skipReason('a/scan.DICOM')).toBeUndefined();
    expect(skipReason('a/1.2.840.113619.2.55.3.604688119')).toBeUndefined();
    expect(skipReason('a/IM000123')).toBeUndefined();
    expect(skipReason('a/notes.txt')).toBe('unsupported file type .txt');
    expect(skipReason('a/folder/')).toBeUndefined();
  });
});
