import type { PartRef } from './layout.js';
import type { GenerationPlan, RunItem, RunManifest } from './types.js';

/** What S3 holds about a run: the manifest, the later generations' plans and which part files exist. */
export interface RunRecord {
  manifest: RunManifest;
  plans: GenerationPlan[];
  parts: PartRef[];
}

export interface PlannedBatch {
  batch: number;
  items: RunItem[];
}

export function batchCount(manifest: RunManifest): number {
  return Math.ceil(manifest.items.length / manifest.batchSize);
}

/** Batch b's keys as the manifest lays them out (generation 0). Pure. */
export function manifestBatch(manifest: RunManifest, batch: number): RunItem[] {
  return manifest.items.slice(batch * manifest.batchSize, (batch + 1) * manifest.batchSize);
}

/** Each batch's current generation: the latest plan naming it, else 0. Pure. */
export function currentGenerations(record: RunRecord): number[] {
  const gens = new Array<number>(batchCount(record.manifest)).fill(0);
  for (const plan of record.plans) for (const b of plan.batches) if (b.batch < gens.length) gens[b.batch] = Math.max(gens[b.batch], plan.generation);
  return gens;
}

export function latestGeneration(record: RunRecord): number {
  return record.plans.reduce((g, p) => Math.max(g, p.generation), 0);
}

/** The keys batch b runs in generation g. Pure. */
export function batchItems(record: RunRecord, batch: number, generation: number): RunItem[] {
  if (generation === 0) return manifestBatch(record.manifest, batch);
  const entry = record.plans.find((p) => p.generation === generation)?.batches.find((b) => b.batch === batch);
  if (!entry) throw new Error(`run ${record.manifest.runId}: generation ${generation} has no batch ${batch}`);
  return entry.items;
}

/** Batches whose current generation has no part in S3: the run is complete when there are none. Pure. */
export function incompleteBatches(record: RunRecord): number[] {
  const have = new Set(record.parts.map((p) => `${p.batch}/${p.generation}`));
  return currentGenerations(record).flatMap((g, b) => (have.has(`${b}/${g}`) ? [] : [b]));
}

/** Parts in merge order: by generation, then batch, so a later attempt's lines come last. Pure. */
export function mergeOrder<T extends PartRef>(parts: readonly T[]): T[] {
  return [...parts].sort((a, b) => a.generation - b.generation || a.batch - b.batch);
}

/** A new generation's work: in the given batches, only the keys that have no prediction. Pure. */
export function planKeys(manifest: RunManifest, batches: readonly number[], predicted: ReadonlySet<string>): PlannedBatch[] {
  return batches
    .map((batch) => ({ batch, items: manifestBatch(manifest, batch).filter((i) => !predicted.has(i.key)) }))
    .filter((b) => b.items.length > 0);
}

/**
 * Counters when a plan starts: scored = manifest keys with a prediction; failed = keys with none outside
 * the batches still to run (they keep their last failure). Pure.
 */
export function countsAtStart(manifest: RunManifest, predicted: ReadonlySet<string>, pending: ReadonlySet<number>): { scored: number; failed: number } {
  let scored = 0;
  let failed = 0;
  manifest.items.forEach((item, i) => {
    if (predicted.has(item.key)) scored++;
    else if (!pending.has(Math.floor(i / manifest.batchSize))) failed++;
  });
  return { scored, failed };
}
