import { describe, expect, it } from 'vitest';
import { ThroughputAccumulator, unionMs } from '../../src/run/throughput.js';
import type { PartMeta } from '../../src/run/types.js';

const T0 = Date.parse('2026-11-26T10:00:00Z');
const meta = (
  generation: number,
  batch: number,
  startS: number,
  endS: number,
  images = 10,
  coldStartMs?: number,
): PartMeta => ({
  runId: 'r',
  batch,
  generation,
  images,
  scored: images,
  failed: 0,
  stageMs: { download: 0, decode: 0, inference: 0, upload: 0 },
  backend: 'onnx',
  host: 'h',
  pid: 1,
  startedAt: new Date(T0 + startS * 1000).toISOString(),
  finishedAt: new Date(T0 + endS * 1000).toISOString(),
  ...(coldStartMs ? { coldStartMs } : {}),
});

describe('run throughput', () => {
  it('joins overlapping intervals and leaves gaps out', () => {
    expect(
      unionMs([
        [0, 10],
        [5, 15],
        [20, 30],
      ]),
    ).toBe(25);
    expect(
      unionMs([
        [20, 30],
        [0, 10],
        [10, 12],
      ]),
    ).toBe(22);
    expect(unionMs([])).toBe(0);
  });

  it('reports active scoring time per attempt, so a run resumed a day later keeps its real rate', () => {
    const acc = new ThroughputAccumulator();
    // Generation 0: two workers in parallel for 10 s, 40 images; generation 1 a day later: 10 images in 5 s.
    for (const m of [
      meta(0, 0, 0, 5),
      meta(0, 1, 0, 5),
      meta(0, 2, 5, 10),
      meta(0, 3, 5, 10),
      meta(1, 4, 86_400, 86_405, 10, 8_000),
    ])
      acc.add(m);
    const r = acc.result(50);
    expect(r.activeSeconds).toBe(15);
    expect(r.imagesPerSec).toBeCloseTo(50 / 15, 9);
    expect(r.attempts).toEqual([
      { generation: 0, batches: 4, images: 40, activeSeconds: 10, imagesPerSec: 4 },
      { generation: 1, batches: 1, images: 10, activeSeconds: 5, imagesPerSec: 2 },
    ]);
    expect(r.coldStart).toEqual({ loads: 1, totalSeconds: 8, meanSeconds: 8 });
  });
});
