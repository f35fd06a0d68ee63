import { batchName } from './batching.js';
import { joinKey, type S3Location } from '../s3/uri.js';

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
    manifestShard: (shard: number) => joinKey(root, 'manifest', `${String(shard).padStart(6, '0')}.jsonl`),
    skippedShard: (shard: number) => joinKey(root, 'manifest', `${String(shard).padStart(6, '0')}.skipped.jsonl`),
    partsPrefix: joinKey(root, 'parts') + '/',
    part: (batch: number, generation = 0) => joinKey(root, 'parts', `${partStem(batch, generation)}.jsonl`),
    partMeta: (batch: number, generation = 0) => joinKey(root, 'parts', `${partStem(batch, generation)}.meta.json`),
    generationsPrefix: joinKey(root, 'generations') + '/',
    generation: (generation: number) => joinKey(root, 'generations', `${String(generation).padStart(6, '0')}.json`),
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

/** Generation number of a generation plan key, or undefined. */
export function generationOfKey(key: string): number | undefined {
  const m = /\/generations\/(\d+)\.json$/.exec(key);
  return m ? Number(m[1]) : undefined;
}
