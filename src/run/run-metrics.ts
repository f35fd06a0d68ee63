import type { BinaryMetrics } from '../shared/metrics.js';
import type { IsolationCounts, RunTally } from './tally.js';
import type { RunManifest, StageMs } from './types.js';
import type { RunStatus } from './state.js';
import { batchCount } from './plan.js';
import type { AttemptThroughput, ColdStart } from './throughput.js';
import type { FlagCounts } from './flags.js';

export interface StageThroughput {
  totalMs: number;
  /** Images per second of busy time in this stage, summed over workers. */
  imagesPerSec: number;
}

export interface RunMetrics {
  runId: string;
  /** How the run ended: done, done-with-failures or failed (same states as `cxr status`). */
  state: Exclude<RunStatus, 'running'>;
  /** Why the run failed. */
  reason?: string;
  /** Attempt generation merged (0 unless resumed or repaired). */
  generation: number;
  source: string;
  createdAt: string;
  finishedAt: string;
  model: { id: string; name: string; version: string; threshold: number } | null;
  backends: string[];
  /** total: keys in the manifest; skipped: objects under the prefix not scored (listed in the manifest). */
  counts: { total: number; scored: number; failed: number; skipped: number; labelled: number; batches: number };
  throughput: {
    /** From the run's creation to its finalize, idle time and resumes included. */
    wallSeconds: number;
    /** Scored images over activeSeconds. */
    endToEndImagesPerSec: number;
    /** Seconds in which some batch was being scored (model loads and idle gaps left out). */
    activeSeconds: number;
    /** Per attempt generation (0, then one per resume or repair). */
    attempts: AttemptThroughput[];
    /** Model loads by new sandboxes, apart from the batches' time. */
    coldStart: ColdStart;
    stages: Record<keyof StageMs, StageThroughput>;
  };
  /** Over the scored keys that have a label; null when none do. */
  classification: BinaryMetrics | null;
  /** Flags on the scored images, and the flagged images --skip-flagged turned into failures. */
  flags?: FlagCounts;
  /** Poison-object isolation: batches split after their process crashed, the splits, the attempts they added, and the objects that failed alone for crashing it (absent in older metrics). */
  isolation?: IsolationCounts;
}

export interface RunEnd {
  state: RunMetrics['state'];
  reason?: string;
  generation: number;
}

const STAGES: readonly (keyof StageMs)[] = ['download', 'decode', 'inference', 'upload'];

/** Stage times (or CPU times) summed stage by stage: a split batch's slices, a bench run's batches. Pure. */
export function sumStages(list: readonly StageMs[]): StageMs {
  const total: StageMs = { download: 0, decode: 0, inference: 0, upload: 0 };
  for (const s of list) for (const k of STAGES) total[k] += s[k];
  return total;
}

/** Counts, throughput and (when labels are known) quality of a finished run, from its one-pass tally. Pure. */
export function buildRunMetrics(manifest: RunManifest, tally: RunTally, finishedAt: Date, end: RunEnd): RunMetrics {
  const wallSeconds = Math.max(1e-3, (finishedAt.getTime() - Date.parse(manifest.createdAt)) / 1000);
  const stages = Object.fromEntries(
    STAGES.map((name) => {
      const totalMs = tally.stages.ms[name];
      return [name, { totalMs, imagesPerSec: totalMs > 0 ? (tally.stages.images * 1000) / totalMs : 0 }];
    }),
  ) as Record<keyof StageMs, StageThroughput>;
  const active = tally.throughput.result(tally.scored);
  return {
    runId: manifest.runId,
    state: end.state,
    ...(end.reason ? { reason: end.reason } : {}),
    generation: end.generation,
    source: manifest.input ?? `s3://${manifest.source.bucket}/${manifest.source.prefix}`,
    createdAt: manifest.createdAt,
    finishedAt: finishedAt.toISOString(),
    model: tally.model,
    backends: [...tally.backends].sort(),
    counts: {
      total: manifest.totalKeys,
      scored: tally.scored,
      failed: tally.failed,
      skipped: manifest.skipped,
      labelled: tally.labelled,
      batches: batchCount(manifest),
    },
    throughput: {
      wallSeconds,
      endToEndImagesPerSec: active.imagesPerSec,
      activeSeconds: active.activeSeconds,
      attempts: active.attempts,
      coldStart: active.coldStart,
      stages,
    },
    flags: tally.flags.result(),
    isolation: { ...tally.isolation },
    classification: tally.classification(),
  };
}
