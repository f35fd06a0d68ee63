import type { PartMeta } from './types.js';

/** One attempt generation's scoring: the time some batch of it was being scored, and images/s over that time. */
export interface AttemptThroughput {
  generation: number;
  batches: number;
  images: number;
  /** Seconds in which at least one of its batches was being scored (idle gaps left out). */
  activeSeconds: number;
  imagesPerSec: number;
}

/** Model loads paid by batches that started a sandbox (not part of the batches' scoring time). */
export interface ColdStart {
  loads: number;
  totalSeconds: number;
  meanSeconds: number;
}

/** Length of the union of [start, end) intervals, in ms. Pure; sorts its argument. */
export function unionMs(intervals: [number, number][]): number {
  intervals.sort((a, b) => a[0] - b[0]);
  let total = 0;
  let [from, to] = [Number.NEGATIVE_INFINITY, Number.NEGATIVE_INFINITY];
  for (const [s, e] of intervals) {
    if (s > to) {
      if (to > from) total += to - from;
      [from, to] = [s, e];
    } else to = Math.max(to, e);
  }
  if (to > from) total += to - from;
  return total;
}

/**
 * Throughput from the batches' part metas, fed one at a time: active time overall and per attempt
 * generation (so a run resumed after a day reports its scoring rate, not images per day), and cold starts.
 */
export class ThroughputAccumulator {
  private readonly byGeneration = new Map<number, { batches: number; images: number; intervals: [number, number][] }>();
  private loads = 0;
  private loadMs = 0;

  add(meta: PartMeta): void {
    const g = this.byGeneration.get(meta.generation) ?? { batches: 0, images: 0, intervals: [] };
    g.batches++;
    g.images += meta.images;
    g.intervals.push([Date.parse(meta.startedAt), Date.parse(meta.finishedAt)]);
    this.byGeneration.set(meta.generation, g);
    if (meta.coldStartMs) {
      this.loads++;
      this.loadMs += meta.coldStartMs;
    }
  }

  /** Active seconds over all generations (their intervals joined), per generation, and cold starts. */
  result(scored: number): { activeSeconds: number; imagesPerSec: number; attempts: AttemptThroughput[]; coldStart: ColdStart } {
    const attempts = [...this.byGeneration.entries()].sort((a, b) => a[0] - b[0]).map(([generation, g]) => {
      const activeSeconds = unionMs([...g.intervals]) / 1000;
      return { generation, batches: g.batches, images: g.images, activeSeconds, imagesPerSec: activeSeconds > 0 ? g.images / activeSeconds : 0 };
    });
    const activeSeconds = unionMs([...this.byGeneration.values()].flatMap((g) => g.intervals)) / 1000;
    const totalSeconds = this.loadMs / 1000;
    return {
      activeSeconds,
      imagesPerSec: activeSeconds > 0 ? scored / activeSeconds : 0,
      attempts,
      coldStart: { loads: this.loads, totalSeconds, meanSeconds: this.loads ? totalSeconds / this.loads : 0 },
    };
  }
}
