import { confusionRates, type BinaryMetrics, type ConfusionMatrix } from '../shared/metrics.js';
import type { FailureLine, PartMeta, PredictionLine, StageMs } from './types.js';
import { ThroughputAccumulator, type ThroughputState } from './throughput.js';
import { FlagTally, type FlagState } from './flags.js';
import { isCrashReason } from './crash.js';

/** A growable Float32Array: 4 bytes a score, so 10 M scores take 40 MB (80 MB while growing, none when `capacity` is right). */
export class ScoreArray {
  private data: Float32Array;
  length = 0;
  constructor(capacity = 1024) {
    this.data = new Float32Array(Math.max(1, capacity));
  }
  push(x: number): void {
    if (this.length === this.data.length) {
      const grown = new Float32Array(this.data.length * 2);
      grown.set(this.data);
      this.data = grown;
    }
    this.data[this.length++] = x;
  }
  values(): Float32Array {
    return this.data.subarray(0, this.length);
  }
  /** The scores, sorted ascending (the backing array is sorted in place). */
  sorted(): Float32Array {
    return this.data.subarray(0, this.length).sort();
  }
}

/**
 * Exact ROC AUC from sorted positive and negative scores: the probability that a random positive scores
 * above a random negative, ties counting half (the Mann-Whitney U). O(P + N) after the sorts. Pure.
 */
export function rocAucSorted(pos: Float32Array, neg: Float32Array): number | null {
  if (pos.length === 0 || neg.length === 0) return null;
  let below = 0; // negatives strictly below the current positive score
  let u = 0;
  for (let i = 0; i < pos.length;) {
    const s = pos[i];
    let j = i;
    while (j < pos.length && pos[j] === s) j++;
    while (below < neg.length && neg[below] < s) below++;
    let tied = below;
    while (tied < neg.length && neg[tied] === s) tied++;
    u += (j - i) * (below + (tied - below) / 2);
    i = j;
  }
  return u / (pos.length * neg.length);
}

/** Poison-object isolation over a run (isolate.ts): batches split, their splits, extra attempts, objects that crashed the process. */
export interface IsolationCounts {
  batches: number;
  splits: number;
  extraAttempts: number;
  crashedObjects: number;
}

export interface StageTotals {
  images: number;
  ms: StageMs;
}

/** A tally's counts as plain JSON (a merge checkpoint holds its shard's); the scores travel apart (LabelledScores). */
export interface TallyState {
  scored: number;
  failed: number;
  labelled: number;
  confusion: ConfusionMatrix;
  model: RunTally['model'];
  stages: StageTotals;
  backends: string[];
  throughput: ThroughputState;
  flags: FlagState;
  /** Absent in a checkpoint written before isolation was counted. */
  isolation?: IsolationCounts;
}

/** The labelled scores of a tally: scores[i] is a positive (PNEUMONIA) when positive[i] is 1. */
export interface LabelledScores {
  scores: Float32Array;
  positive: Uint8Array;
}

/**
 * The run's outcome counted in one pass over the merged lines, in memory that does not grow with the run
 * beyond one Float32 a labelled score: counts, exact confusion, the scores for an exact ROC AUC, stage
 * totals and backends from the parts' metas.
 */
export class RunTally {
  scored = 0;
  failed = 0;
  labelled = 0;
  readonly confusion: ConfusionMatrix = { tp: 0, fp: 0, tn: 0, fn: 0 };
  private readonly pos = new ScoreArray();
  private readonly neg = new ScoreArray();
  model: { id: string; name: string; version: string; threshold: number } | null = null;
  readonly stages: StageTotals = { images: 0, ms: { download: 0, decode: 0, inference: 0, upload: 0 } };
  readonly backends = new Set<string>();
  readonly throughput = new ThroughputAccumulator();
  readonly flags = new FlagTally();
  readonly isolation: IsolationCounts = { batches: 0, splits: 0, extraAttempts: 0, crashedObjects: 0 };

  prediction(p: PredictionLine): void {
    this.scored++;
    this.flags.prediction(p);
    this.model ??= { id: p.modelId, name: p.modelName, version: p.modelVersion, threshold: p.threshold };
    if (p.trueLabel === undefined) return;
    this.labelled++;
    const actual = p.trueLabel === 'PNEUMONIA';
    const called = p.label === 'PNEUMONIA';
    this.confusion[actual ? (called ? 'tp' : 'fn') : called ? 'fp' : 'tn']++;
    (actual ? this.pos : this.neg).push(p.probability);
  }

  failure(f: FailureLine): void {
    this.failed++;
    this.flags.failure(f);
    if (isCrashReason(f.reason)) this.isolation.crashedObjects++;
  }

  meta(m: PartMeta): void {
    this.stages.images += m.images;
    for (const k of Object.keys(this.stages.ms) as (keyof StageMs)[]) this.stages.ms[k] += m.stageMs[k];
    this.backends.add(m.backend);
    this.throughput.add(m);
    if (m.isolation) {
      this.isolation.batches++;
      this.isolation.splits += m.isolation.splits;
      this.isolation.extraAttempts += m.isolation.extraAttempts;
    }
  }

  state(): TallyState {
    const { scored, failed, labelled, model } = this;
    return {
      scored,
      failed,
      labelled,
      confusion: { ...this.confusion },
      model,
      stages: structuredClone(this.stages),
      backends: [...this.backends],
      throughput: this.throughput.state(),
      flags: this.flags.state(),
      isolation: { ...this.isolation },
    };
  }

  labelledScores(): LabelledScores {
    const [pos, neg] = [this.pos.values(), this.neg.values()];
    const scores = new Float32Array(pos.length + neg.length);
    scores.set(pos);
    scores.set(neg, pos.length);
    return { scores, positive: new Uint8Array(scores.length).fill(1, 0, pos.length) };
  }

  /** Adds another tally (a manifest shard's), as if its lines and metas had been fed here. */
  absorb(s: TallyState, labelled: LabelledScores): void {
    this.scored += s.scored;
    this.failed += s.failed;
    this.labelled += s.labelled;
    for (const k of ['tp', 'fp', 'tn', 'fn'] as const) this.confusion[k] += s.confusion[k];
    this.model ??= s.model;
    this.stages.images += s.stages.images;
    for (const k of Object.keys(this.stages.ms) as (keyof StageMs)[]) this.stages.ms[k] += s.stages.ms[k];
    for (const b of s.backends) this.backends.add(b);
    this.throughput.absorb(s.throughput);
    this.flags.absorb(s.flags);
    for (const k of Object.keys(this.isolation) as (keyof IsolationCounts)[])
      this.isolation[k] += s.isolation?.[k] ?? 0;
    labelled.scores.forEach((x, i) => (labelled.positive[i] ? this.pos : this.neg).push(x));
  }

  /** Classification metrics over the labelled predictions; null when none has a label. */
  classification(): BinaryMetrics | null {
    if (this.labelled === 0) return null;
    return {
      n: this.labelled,
      ...confusionRates(this.confusion),
      rocAuc: rocAucSorted(this.pos.sorted(), this.neg.sorted()),
      confusion: { ...this.confusion },
    };
  }
}
