import { binaryMetrics, type BinaryMetrics } from '../shared/metrics.js';
import type { PartMeta, RunManifest, StageMs } from '../shared/run/types.js';
import type { RunStatus } from '../shared/run/state.js';
import { batchCount } from '../shared/run/plan.js';
import { ThroughputAccumulator, type AttemptThroughput, type ColdStart } from '../shared/run/throughput.js';
import type { MergedRun } from './merge-parts.js';
import { flagCounts, type FlagCounts } from './flag-counts.js';

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
}

/** Counts, throughput and (when labels are known) quality of a finished run. Pure. */
export interface RunEnd {
  state: RunMetrics['state'];
  reason?: string;
  generation: number;
}

export function buildRunMetrics(manifest: RunManifest, merged: MergedRun, metas: readonly PartMeta[], finishedAt: Date, end: RunEnd): RunMetrics {
  const wallSeconds = Math.max(1e-3, (finishedAt.getTime() - Date.parse(manifest.createdAt)) / 1000);
  const stageNames: (keyof StageMs)[] = ['download', 'decode', 'inference', 'upload'];
  const imagesSeen = metas.reduce((s, m) => s + m.images, 0);
  const stages = Object.fromEntries(
    stageNames.map((name) => {
      const totalMs = metas.reduce((s, m) => s + m.stageMs[name], 0);
      return [name, { totalMs, imagesPerSec: totalMs > 0 ? (imagesSeen * 1000) / totalMs : 0 }];
    }),
  ) as Record<keyof StageMs, StageThroughput>;

  const acc = new ThroughputAccumulator();
  for (const m of metas) acc.add(m);
  const active = acc.result(merged.predictions.length);
  const labelled = merged.predictions.filter((p) => p.trueLabel !== undefined);
  const first = merged.predictions[0];
  return {
    runId: manifest.runId,
    state: end.state,
    ...(end.reason ? { reason: end.reason } : {}),
    generation: end.generation,
    source: `s3://${manifest.source.bucket}/${manifest.source.prefix}`,
    createdAt: manifest.createdAt,
    finishedAt: finishedAt.toISOString(),
    model: first ? { id: first.modelId, name: first.modelName, version: first.modelVersion, threshold: first.threshold } : null,
    backends: [...new Set(metas.map((m) => m.backend))].sort(),
    counts: {
      total: manifest.items.length,
      scored: merged.predictions.length,
      failed: merged.failures.length,
      skipped: manifest.skipped?.length ?? 0,
      labelled: labelled.length,
      batches: batchCount(manifest),
    },
    throughput: { wallSeconds, endToEndImagesPerSec: active.imagesPerSec, activeSeconds: active.activeSeconds, attempts: active.attempts, coldStart: active.coldStart, stages },
    flags: flagCounts(merged),
    classification:
      labelled.length === 0
        ? null
        : binaryMetrics(
            labelled.map((p) => p.trueLabel === 'PNEUMONIA'),
            labelled.map((p) => p.probability),
            labelled.map((p) => p.label === 'PNEUMONIA'),
          ),
  };
}
