import { batchName } from './batching.js';
import type { BatchSlice } from './types.js';
import { joinKey, type S3Location } from '../shared/s3/uri.js';

const six = (n: number) => String(n).padStart(6, '0');

/** Part file stem of a batch in an attempt generation: 000123 (generation 0) or 000123.g2. */
const partStem = (batch: number, generation: number) => `${batchName(batch)}${generation > 0 ? `.g${generation}` : ''}`;

/** Where a run's objects live under its output prefix. Pure. */
export function runLayout(out: S3Location, runId: string) {
  const root = joinKey(out.prefix, runId);
  return {
    bucket: out.bucket,
    root,
    /** The header, written put-if-absent first; the owner of the run wrote it. */
    header: joinKey(root, 'run.json'),
    /** The manifest index, written last (put-if-absent): listing is complete. */
    manifest: joinKey(root, 'manifest.json'),
    manifestShard: (shard: number) => joinKey(root, 'manifest', `${six(shard)}.jsonl`),
    skippedShard: (shard: number) => joinKey(root, 'manifest', `${six(shard)}.skipped.jsonl`),
    partsPrefix: joinKey(root, 'parts') + '/',
    /** A batch's part; a slice's (isolate.ts) beside it, .sSTART-END, read only to join it into the batch's. */
    part: (batch: number, generation = 0, slice?: BatchSlice) =>
      joinKey(root, 'parts', `${partStem(batch, generation)}${slice ? `.s${slice.start}-${slice.end}` : ''}.jsonl`),
    partMeta: (batch: number, generation = 0) => joinKey(root, 'parts', `${partStem(batch, generation)}.meta.json`),
    generationsPrefix: joinKey(root, 'generations') + '/',
    generation: (generation: number) => joinKey(root, 'generations', `${six(generation)}.json`),
    /** A new plan's shards go under a folder of their own (the generation and a token), named in its index. */
    planShardsPrefix: (generation: number, token: string) => joinKey(root, 'generations', six(generation), token) + '/',
    planShard: (shardsPrefix: string, shard: number) => `${shardsPrefix}${six(shard)}.jsonl`,
    /** A manifest shard's merge checkpoint: its outputs, its scores, and its index (written last). */
    merged: (shard: number) => {
      const stem = joinKey(root, 'merged', six(shard));
      return {
        index: `${stem}.json`,
        predictions: `${stem}.predictions.jsonl`,
        csv: `${stem}.csv`,
        failures: `${stem}.failures.jsonl`,
        scores: `${stem}.scores.bin`,
      };
    },
    predictionsJsonl: joinKey(root, 'predictions.jsonl'),
    predictionsCsv: joinKey(root, 'predictions.csv'),
    failures: joinKey(root, 'failures.jsonl'),
    metrics: joinKey(root, 'metrics.json'),
  };
}

export type RunLayout = ReturnType<typeof runLayout>;

export interface PartRef {
  batch: number;
  generation: number;
}

/** Batch and generation of a part object key, or undefined for other objects (metas included). */
export function partOfKey(key: string): PartRef | undefined {
  const m = /\/parts\/(\d+)(?:\.g(\d+))?\.jsonl$/.exec(key);
  return m ? { batch: Number(m[1]), generation: m[2] ? Number(m[2]) : 0 } : undefined;
}

/** Batch and generation of a part's meta object key, or undefined for other objects. */
export function partMetaOfKey(key: string): PartRef | undefined {
  const m = /\/parts\/(\d+)(?:\.g(\d+))?\.meta\.json$/.exec(key);
  return m ? { batch: Number(m[1]), generation: m[2] ? Number(m[2]) : 0 } : undefined;
}

/** Generation number of a generation plan key, or undefined. */
export function generationOfKey(key: string): number | undefined {
  const m = /\/generations\/(\d+)\.json$/.exec(key);
  return m ? Number(m[1]) : undefined;
}
