import { describe, expect, it } from 'vitest';
import { batchItems, countsAtStart, currentGenerations, incompleteBatches, latestGeneration, mergeOrder, planKeys, type RunRecord } from '../../src/shared/run/plan.js';
import { allowedFailures, judgeEnded, judgeRunning, parseMaxFailures, stallLimits, verdictLine } from '../../src/shared/run/outcome.js';
import { skipReason } from '../../src/producer/list-images.js';
import type { RunItem, RunManifest } from '../../src/shared/run/types.js';

const item = (key: string): RunItem => ({ key, etag: `e-${key}`, size: 1 });
const manifest = { runId: 'r', batchSize: 2, items: ['a', 'b', 'c', 'd', 'e'].map(item), out: { bucket: 'b', prefix: 'o' } } as RunManifest;

describe('a run as S3 records it', () => {
  it('gives each batch the generation of the latest plan naming it', () => {
    const record: RunRecord = {
      manifest,
      plans: [
        { runId: 'r', generation: 1, createdAt: '', reason: 'resume', batches: [{ batch: 1, items: [item('c')] }] },
        { runId: 'r', generation: 2, createdAt: '', reason: 'repair', batches: [{ batch: 2, items: [item('e')] }] },
      ],
      parts: [
        { batch: 0, generation: 0 },
        { batch: 1, generation: 0 },
        { batch: 2, generation: 0 },
        { batch: 1, generation: 1 },
      ],
    };
    expect(currentGenerations(record)).toEqual([0, 1, 2]);
    expect(latestGeneration(record)).toBe(2);
    expect(batchItems(record, 1, 0).map((i) => i.key)).toEqual(['c', 'd']);
    expect(batchItems(record, 1, 1).map((i) => i.key)).toEqual(['c']);
    // Batch 2's generation-0 part exists, but its current generation (2) has none yet.
    expect(incompleteBatches(record)).toEqual([2]);
    expect(mergeOrder(record.parts).map((p) => `${p.batch}.${p.generation}`)).toEqual(['0.0', '1.0', '2.0', '1.1']);
  });

  it('plans only keys without a prediction and counts what a plan starts from', () => {
    const predicted = new Set(['a', 'b', 'd']);
    expect(planKeys(manifest, [0, 1, 2], predicted)).toEqual([
      { batch: 1, items: [item('c')] },
      { batch: 2, items: [item('e')] },
    ]);
    // e (batch 2) is pending; c (batch 1, not pending) keeps its failure.
    expect(countsAtStart(manifest, predicted, new Set([2]))).toEqual({ scored: 3, failed: 1 });
    expect(countsAtStart(manifest, new Set(['zzz']), new Set([0, 1, 2]))).toEqual({ scored: 0, failed: 0 });
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
    expect(verdictLine('r', judgeEnded({ status: 'failed', failed: 0, totalKeys: 1, reason: 'model load failed: ENOENT' }, { count: 0 }))).toBe('run r: failed: model load failed: ENOENT');
  });

  it('calls a run stuck when no worker is alive (a minute at most) or no batch progressed, saying which', () => {
    const limits = stallLimits(600_000);
    expect(judgeRunning({ sinceProgressMs: 500_000, sinceWorkerMs: 0, missingMs: 0 }, limits)).toBeUndefined();
    expect(judgeRunning({ sinceProgressMs: 70_000, sinceWorkerMs: 60_000, missingMs: 0 }, limits)).toMatchObject({ why: 'no-worker' });
    expect(judgeRunning({ sinceProgressMs: 600_000, sinceWorkerMs: 0, missingMs: 0 }, limits)).toMatchObject({ why: 'no-progress', seconds: 600 });
    expect(verdictLine('r', { kind: 'stuck', why: 'no-worker', seconds: 61 })).toMatch(/no worker is alive/);
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
