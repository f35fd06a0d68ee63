import type { PartRef } from './layout.js';
import type { ShardFingerprints } from './checkpoint.js';
import type { GenerationPlan, LegacyGenerationPlan, PlanLine, RunHeader, RunItem, RunManifest } from './types.js';

/**
 * Which part files S3 holds: one bitmap of batches per attempt generation, so a 10 M-key run's parts
 * (625 k batches of 16) take 78 KB per generation, not an object each.
 */
export type PartIndex = Map<number, Uint8Array>;

/**
 * What S3 holds about a run: the manifest index, the later generations' plans, which part files exist, and
 * the fingerprint of the part objects each manifest shard merges (see checkpoint.ts).
 */
export interface RunRecord {
  manifest: RunManifest;
  plans: GenerationPlan[];
  parts: PartIndex;
  fingerprints: ShardFingerprints;
}

export type PlannedBatch = PlanLine;

/** Keys known to have a prediction. */
export type Predicted = Pick<ReadonlySet<string>, 'has'>;

export function batchCount(manifest: Pick<RunManifest, 'totalBatches'>): number {
  return manifest.totalBatches;
}

/** Batch b's place in the manifest shards: shard number and line range. Pure. */
export function shardRange(
  header: Pick<RunHeader, 'batchSize' | 'batchesPerShard'>,
  batch: number,
): { shard: number; start: number; end: number } {
  const shard = Math.floor(batch / header.batchesPerShard);
  const start = (batch - shard * header.batchesPerShard) * header.batchSize;
  return { shard, start, end: start + header.batchSize };
}

/** Records part `ref` in the index. */
export function addPart(index: PartIndex, ref: PartRef, totalBatches: number): void {
  const bits = index.get(ref.generation) ?? new Uint8Array(Math.ceil(Math.max(totalBatches, ref.batch + 1) / 8));
  index.set(ref.generation, withBit(bits, ref.batch));
}

/** `bits` with bit b set (lowest bit first), grown (at least doubled) when b lies past its end. */
function withBit(bits: Uint8Array, b: number): Uint8Array {
  if (b >> 3 >= bits.length) {
    const grown = new Uint8Array(Math.max((b >> 3) + 1, bits.length * 2));
    grown.set(bits);
    bits = grown;
  }
  bits[b >> 3] |= 1 << (b & 7);
  return bits;
}

export function hasPart(index: PartIndex, batch: number, generation: number): boolean {
  const bits = index.get(generation);
  return bits !== undefined && batch >> 3 < bits.length && (bits[batch >> 3] & (1 << (batch & 7))) !== 0;
}

export function partIndexOf(refs: readonly PartRef[], totalBatches: number): PartIndex {
  const index: PartIndex = new Map();
  for (const r of refs) addPart(index, r, totalBatches);
  return index;
}

/** A plan's bitmap of batches, base64. Pure. */
export function encodeBatchBits(batches: Iterable<number>): string {
  let bits: Uint8Array = new Uint8Array(0);
  for (const b of batches) bits = withBit(bits, b);
  let end = bits.length;
  while (end > 0 && bits[end - 1] === 0) end--;
  return Buffer.from(bits.subarray(0, end)).toString('base64');
}

/** The batches a plan re-runs, ascending. Pure. */
export function planBatches(plan: Pick<GenerationPlan, 'batchBits'>): number[] {
  const bits = Buffer.from(plan.batchBits, 'base64');
  const out: number[] = [];
  for (let i = 0; i < bits.length; i++) for (let j = 0; j < 8; j++) if (bits[i] & (1 << j)) out.push(i * 8 + j);
  return out;
}

/** A plan as generations/NNNNNN.json holds it: an index, or the previous version's one document (its lines kept inline). Pure. */
export function planFromDocument(
  doc: GenerationPlan | LegacyGenerationPlan,
  header: Pick<RunHeader, 'batchesPerShard'>,
): GenerationPlan {
  if (!('batches' in doc)) return doc;
  const { batches, ...rest } = doc;
  return {
    ...rest,
    batchCount: batches.length,
    keyCount: batches.reduce((n, b) => n + b.items.length, 0),
    shards: [...new Set(batches.map((b) => Math.floor(b.batch / header.batchesPerShard)))].sort((a, b) => a - b),
    shardsPrefix: '',
    batchBits: encodeBatchBits(batches.map((b) => b.batch)),
    inline: batches,
  };
}

/** The later generations (ascending) whose plan names each batch; batches no plan names are absent (generation 0 only). Pure. */
export function planGenerations(plans: readonly GenerationPlan[]): Map<number, number[]> {
  const out = new Map<number, number[]>();
  for (const plan of [...plans].sort((a, b) => a.generation - b.generation)) {
    for (const b of planBatches(plan)) out.set(b, [...(out.get(b) ?? []), plan.generation]);
  }
  return out;
}

/** A batch's current generation: the latest plan naming it, else 0. */
export function currentGeneration(gens: ReadonlyMap<number, readonly number[]>, batch: number): number {
  return gens.get(batch)?.at(-1) ?? 0;
}

export function latestGeneration(record: Pick<RunRecord, 'plans'>): number {
  return record.plans.reduce((g, p) => Math.max(g, p.generation), 0);
}

/** The keys a plan shard's lines give batch b. Pure. */
export function plannedItems(lines: readonly PlanLine[], batch: number, where: string): RunItem[] {
  const entry = lines.find((l) => l.batch === batch);
  if (!entry) throw new Error(`${where} has no batch ${batch}`);
  return entry.items;
}

/** A plan shard as JSONL, one line a batch. Pure. */
export function encodePlanShard(lines: readonly PlanLine[]): string {
  return lines.map((l) => JSON.stringify(l)).join('\n') + '\n';
}

/** Batches whose current generation has no part in S3: the run is complete when there are none. Pure. */
export function incompleteBatches(record: RunRecord): number[] {
  const gens = planGenerations(record.plans);
  const out: number[] = [];
  for (let b = 0; b < record.manifest.totalBatches; b++)
    if (!hasPart(record.parts, b, currentGeneration(gens, b))) out.push(b);
  return out;
}

/** Parts in merge order: by generation, then batch, so a later attempt's lines come last. Pure. */
export function mergeOrder<T extends PartRef>(parts: readonly T[]): T[] {
  return [...parts].sort((a, b) => a.generation - b.generation || a.batch - b.batch);
}

/** A new generation's work for one batch: only its keys that have no prediction; undefined when none is missing. Pure. */
export function planBatch(batch: number, items: readonly RunItem[], predicted: Predicted): PlannedBatch | undefined {
  const missing = items.filter((i) => !predicted.has(i.key));
  return missing.length ? { batch, items: missing } : undefined;
}

/**
 * One batch's share of the counters a plan starts from: scored = its keys with a prediction; failed = its
 * keys with none when the batch is not pending (they keep their last failure). Pure.
 */
export function batchCountsAtStart(
  items: readonly RunItem[],
  predicted: Predicted,
  pending: boolean,
): { scored: number; failed: number } {
  const scored = items.reduce((n, i) => n + (predicted.has(i.key) ? 1 : 0), 0);
  return { scored, failed: pending ? 0 : items.length - scored };
}
