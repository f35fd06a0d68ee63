import { describe, expect, it } from 'vitest';
import {
  decodeScores,
  encodeScores,
  matchingCheckpoint,
  ShardFingerprints,
  type ShardCheckpoint,
} from '../../src/run/checkpoint.js';
import { encodeBatchBits, encodePlanShard, planBatches, planFromDocument } from '../../src/run/plan.js';
import { parseJsonl } from '../../src/run/run-record.js';
import { mergeParts } from '../../src/run/merge-parts.js';
import { RunTally } from '../../src/run/tally.js';
import { buildRunMetrics } from '../../src/run/run-metrics.js';
import type { FailureLine, PartMeta, PlanLine, PredictionLine, RunItem, RunManifest } from '../../src/run/types.js';

const item = (key: string): RunItem => ({ key, etag: `e-${key}`, size: 1 });

describe('shard fingerprints', () => {
  const objects: [number, string, string][] = [
    [0, 'o/r/parts/000000.jsonl', 'a1'],
    [0, 'o/r/parts/000000.meta.json', 'a2'],
    [0, 'o/r/parts/000001.g1.jsonl', 'a3'],
    [1, 'o/r/parts/000002.jsonl', 'b1'],
  ];
  const prints = (list: [number, string, string][]) => {
    const f = new ShardFingerprints();
    for (const [s, k, e] of list) f.add(s, k, e);
    return f;
  };

  it('are the same for the same objects listed in any order, per shard', () => {
    const a = prints(objects);
    const b = prints([...objects].reverse());
    expect([a.get(0), a.get(1), a.get(2)]).toEqual([b.get(0), b.get(1), b.get(2)]);
    expect(a.get(0)).not.toBe(a.get(1));
    expect(a.get(2)).toBe('0'); // no objects
  });

  it('change when a part is added, lost or rewritten (its ETag), and only for its shard', () => {
    const base = prints(objects);
    const added = prints([...objects, [0, 'o/r/parts/000001.g2.jsonl', 'a4']]);
    const lost = prints(objects.slice(1));
    const rewritten = prints(objects.map(([s, k, e]) => [s, k, k.endsWith('000000.jsonl') ? 'zz' : e]));
    for (const changed of [added, lost, rewritten]) {
      expect(changed.get(0)).not.toBe(base.get(0));
      expect(changed.get(1)).toBe(base.get(1));
    }
  });

  it('a checkpoint is used only when its fingerprint is the one listed now', () => {
    const cp = { shard: 0, fingerprint: prints(objects).get(0) } as ShardCheckpoint;
    expect(matchingCheckpoint(cp, prints(objects).get(0))).toBe(cp);
    expect(matchingCheckpoint(cp, prints(objects.slice(1)).get(0))).toBeUndefined();
    expect(matchingCheckpoint(undefined, prints(objects).get(0))).toBeUndefined();
  });
});

describe('plan shards and plan indexes', () => {
  it('encode a shard as one JSON line a batch, read back as written', () => {
    const lines: PlanLine[] = [
      { batch: 3, items: [item('a'), item('b,"c')] },
      { batch: 5, items: [{ ...item('d'), label: 'NORMAL' }] },
    ];
    const text = encodePlanShard(lines);
    expect(text.split('\n').filter(Boolean)).toHaveLength(2);
    expect(parseJsonl<PlanLine>(text, 'x')).toEqual(lines);
  });

  it('keep the planned batches as a bitmap that holds no keys', () => {
    for (const batches of [[], [0], [1, 7, 8, 9, 1000, 624_999]])
      expect(planBatches({ batchBits: encodeBatchBits(batches) })).toEqual(batches);
    expect(Buffer.from(encodeBatchBits([624_999]), 'base64').length).toBe(Math.ceil(625_000 / 8));
  });

  it("read a previous version's one-document plan, its keys inline", () => {
    const legacy = {
      runId: 'r',
      generation: 1,
      createdAt: 't',
      reason: 'resume' as const,
      batches: [
        { batch: 1, items: [item('a')] },
        { batch: 5, items: [item('b'), item('c')] },
      ],
    };
    const plan = planFromDocument(legacy, { batchesPerShard: 2 });
    expect(plan).toMatchObject({ generation: 1, batchCount: 2, keyCount: 3, shards: [0, 2], inline: legacy.batches });
    expect(planBatches(plan)).toEqual([1, 5]);
    const index = { ...plan, inline: undefined, shardsPrefix: 'o/r/generations/000001/t/' };
    expect(planFromDocument(index, { batchesPerShard: 2 })).toBe(index);
  });
});

describe('a tally summed from shard checkpoints', () => {
  const pred = (key: string, i: number): PredictionLine => ({
    type: 'prediction',
    key,
    etag: 'e',
    label: i % 3 ? 'PNEUMONIA' : 'NORMAL',
    probability: ((i * 37) % 101) / 101,
    threshold: 0.5,
    modelId: 'm',
    modelName: 'n',
    modelVersion: 'v',
    ...(i % 5 ? { trueLabel: i % 2 ? 'PNEUMONIA' : 'NORMAL' } : {}),
    timings: { downloadMs: 1, decodeMs: 1, inferenceMs: 1 },
    ...(i % 7 === 0 ? { flags: [i % 14 ? 'lateral view' : 'out of distribution'], ood: 3 } : {}),
  });
  const fail = (key: string, i: number): FailureLine => ({
    type: 'failure',
    key,
    etag: 'e',
    stage: i % 2 ? 'decode' : 'flagged',
    reason: 'r',
  });
  const meta = (batch: number, generation: number): PartMeta => ({
    runId: 'r',
    batch,
    generation,
    images: 10,
    scored: 9,
    failed: 1,
    stageMs: { download: 1.25 * batch, decode: 2.5, inference: 10.125, upload: 0.5 },
    backend: batch % 2 ? 'null' : 'cpu',
    host: 'h',
    pid: 1,
    startedAt: new Date(1e12 + batch * 1000).toISOString(),
    finishedAt: new Date(1e12 + batch * 1000 + 1500).toISOString(),
    ...(batch % 4 ? {} : { coldStartMs: 700 }),
  });
  const feed = (t: RunTally, shard: number) => {
    for (let i = shard * 40; i < shard * 40 + 40; i++) {
      if (i % 9) t.prediction(pred(`k${i}`, i));
      else t.failure(fail(`k${i}`, i));
    }
    for (let b = shard * 4; b < shard * 4 + 4; b++) t.meta(meta(b, b % 3 === 0 ? 1 : 0));
  };

  it('gives the metrics of one tally fed every line (counts, confusion, exact AUC, flags, throughput)', () => {
    const whole = new RunTally();
    for (let s = 0; s < 3; s++) feed(whole, s);
    const summed = new RunTally();
    for (let s = 0; s < 3; s++) {
      const shard = new RunTally();
      feed(shard, s);
      const n = shard.labelled;
      // As a checkpoint stores them: the state as JSON, the scores as bytes.
      summed.absorb(
        JSON.parse(JSON.stringify(shard.state())),
        decodeScores(encodeScores(shard.labelledScores()), n, 'x'),
      );
    }
    const manifest = {
      runId: 'r',
      createdAt: new Date(1e12).toISOString(),
      totalKeys: 120,
      totalBatches: 12,
      skipped: 0,
      source: { bucket: 'b', prefix: 'p' },
    } as RunManifest;
    const at = new Date(2e12);
    const end = { state: 'done-with-failures' as const, generation: 1 };
    const [a, b] = [buildRunMetrics(manifest, whole, at, end), buildRunMetrics(manifest, summed, at, end)];
    expect(b).toEqual(a);
    expect(JSON.stringify(b.flags)).toBe(JSON.stringify(a.flags)); // flags in the same order
    expect(a.classification?.rocAuc).toBeGreaterThan(0);
    expect(a.throughput.attempts.map((x) => x.generation)).toEqual([0, 1]);
  });

  it('scores stored beside a checkpoint come back bit for bit, and a short object is named', () => {
    const scores = Float32Array.from([0.1, 0.7, 1 / 3, 0]);
    const positive = Uint8Array.from([1, 0, 1, 0]);
    expect(decodeScores(encodeScores({ scores, positive }), 4, 'x')).toEqual({ scores, positive });
    expect(() => decodeScores(new Uint8Array(19), 4, 'merged/000001.scores.bin')).toThrow(
      /merged\/000001.scores.bin: 19 bytes, expected 20/,
    );
  });

  it('a merge counts the keys no part has a line for (such a shard is not checkpointed)', () => {
    const m = mergeParts([item('a'), item('b'), item('c')], [[pred('a', 1)], [fail('b', 1)]]);
    expect(m.unrecorded).toBe(1);
    expect(m.failures.map((f) => f.key)).toEqual(['b', 'c']);
  });
});
