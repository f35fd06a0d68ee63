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
  const spans = new Spans();
  for (const [a, b] of intervals) spans.add(a, b);
  return spans.unionMs();
}

/** Intervals kept as two growable Float64Arrays: 16 bytes a batch, so a 10 M-key run's 625 k batches take 10 MB. */
class Spans {
  private starts = new Float64Array(256);
  private ends = new Float64Array(256);
  length = 0;

  add(start: number, end: number): void {
    if (this.length === this.starts.length) {
      const [s, e] = [new Float64Array(this.length * 2), new Float64Array(this.length * 2)];
      s.set(this.starts);
      e.set(this.ends);
      [this.starts, this.ends] = [s, e];
    }
    this.starts[this.length] = start;
    this.ends[this.length++] = end;
  }

  /** The intervals as [start0, end0, start1, end1, ...]. */
  flat(): number[] {
    const out: number[] = [];
    for (let i = 0; i < this.length; i++) out.push(this.starts[i], this.ends[i]);
    return out;
  }

  /** Length of the union of the intervals, in ms. */
  unionMs(...others: Spans[]): number {
    const all = [this, ...others];
    const n = all.reduce((k, s) => k + s.length, 0);
    const starts = new Float64Array(n);
    const ends = new Float64Array(n);
    let o = 0;
    for (const s of all) {
      starts.set(s.starts.subarray(0, s.length), o);
      ends.set(s.ends.subarray(0, s.length), o);
      o += s.length;
    }
    const order = Uint32Array.from({ length: n }, (_, i) => i).sort((a, b) => starts[a] - starts[b]);
    let total = 0;
    let [from, to] = [Number.NEGATIVE_INFINITY, Number.NEGATIVE_INFINITY];
    for (const i of order) {
      if (starts[i] > to) {
        if (to > from) total += to - from;
        [from, to] = [starts[i], ends[i]];
      } else to = Math.max(to, ends[i]);
    }
    if (to > from) total += to - from;
    return total;
  }
}

/** A ThroughputAccumulator as plain JSON (a merge checkpoint's share): per generation, batches, images and its intervals flat. */
export interface ThroughputState {
  generations: { generation: number; batches: number; images: number; spans: number[] }[];
  loads: number;
  loadMs: number;
}

/**
 * Throughput from the batches' part metas, fed one at a time: active time overall and per attempt
 * generation (so a run resumed after a day reports its scoring rate, not images per day), and cold starts.
 */
export class ThroughputAccumulator {
  private readonly byGeneration = new Map<number, { batches: number; images: number; spans: Spans }>();
  private loads = 0;
  private loadMs = 0;

  add(meta: PartMeta): void {
    const g = this.byGeneration.get(meta.generation) ?? { batches: 0, images: 0, spans: new Spans() };
    g.batches++;
    g.images += meta.images;
    g.spans.add(Date.parse(meta.startedAt), Date.parse(meta.finishedAt));
    this.byGeneration.set(meta.generation, g);
    if (meta.coldStartMs) {
      this.loads++;
      this.loadMs += meta.coldStartMs;
    }
  }

  state(): ThroughputState {
    const generations = [...this.byGeneration].map(([generation, g]) => ({
      generation,
      batches: g.batches,
      images: g.images,
      spans: g.spans.flat(),
    }));
    return { generations, loads: this.loads, loadMs: this.loadMs };
  }

  /** Adds another accumulator's state, as if its metas had been fed here. */
  absorb(s: ThroughputState): void {
    for (const x of s.generations) {
      const g = this.byGeneration.get(x.generation) ?? { batches: 0, images: 0, spans: new Spans() };
      g.batches += x.batches;
      g.images += x.images;
      for (let i = 0; i < x.spans.length; i += 2) g.spans.add(x.spans[i], x.spans[i + 1]);
      this.byGeneration.set(x.generation, g);
    }
    this.loads += s.loads;
    this.loadMs += s.loadMs;
  }

  /** Active seconds over all generations (their intervals joined), per generation, and cold starts. */
  result(scored: number): {
    activeSeconds: number;
    imagesPerSec: number;
    attempts: AttemptThroughput[];
    coldStart: ColdStart;
  } {
    const gens = [...this.byGeneration.entries()].sort((a, b) => a[0] - b[0]);
    const attempts = gens.map(([generation, g]) => {
      const activeSeconds = g.spans.unionMs() / 1000;
      return {
        generation,
        batches: g.batches,
        images: g.images,
        activeSeconds,
        imagesPerSec: activeSeconds > 0 ? g.images / activeSeconds : 0,
      };
    });
    const activeSeconds = gens.length ? gens[0][1].spans.unionMs(...gens.slice(1).map(([, g]) => g.spans)) / 1000 : 0;
    const totalSeconds = this.loadMs / 1000;
    return {
      activeSeconds,
      imagesPerSec: activeSeconds > 0 ? scored / activeSeconds : 0,
      attempts,
      coldStart: { loads: this.loads, totalSeconds, meanSeconds: this.loads ? totalSeconds / this.loads : 0 },
    };
  }
}
