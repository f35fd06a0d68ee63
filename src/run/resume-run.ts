import { UserError } from '../shared/errors.js';
import type { S3Location } from '../shared/s3/uri.js';
import { batchCount } from './plan.js';
import { ensureRunInRedis, startGeneration, type RunDeps } from './reconcile.js';
import { loadRunRecord, readManifest } from './run-record.js';
import { ReadCounter } from './checkpoint.js';

export interface ResumedRun {
  runId: string;
  generation: number;
  /** Keys re-enqueued: those with no prediction. */
  missing: number;
  /** Batches re-run, of `totalBatches`, under their existing batch ids. */
  batches: number;
  totalBatches: number;
  /** Redis did not have the run; it was rebuilt from S3 first. */
  rebuilt: boolean;
  /** Time to plan and write the generation, and what it read (matching merge checkpoints spare the parts). */
  planMs: number;
  reads: ReadCounter;
}

/**
 * Repairs an ended or stuck run: re-enqueues exactly the keys with no prediction in any part, under their
 * batches' existing ids in a new attempt generation. Rebuilds the run from S3 first when Redis lost it.
 * Reads a shard's merge checkpoint where it matches the parts (its failures), else each part once.
 */
export async function resumeRun(deps: RunDeps, runId: string, outHint?: S3Location): Promise<ResumedRun> {
  const state = await deps.store.get(runId);
  const out = state?.out ?? outHint;
  if (!out)
    throw new UserError(
      `run ${runId} is unknown to Redis; give --out s3://BUCKET/OUTPREFIX so its manifest can be found in S3`,
    );
  const manifest = await readManifest(deps.s3, out, runId);
  const rebuilt = !state && (await ensureRunInRedis(deps, manifest)).created;
  if (rebuilt) deps.logger.warn({ runId }, 'run was missing from Redis; rebuilt its state from S3');

  const started = Date.now();
  const reads = new ReadCounter();
  const record = await loadRunRecord(deps.s3, manifest);
  const plan = await startGeneration(deps, record, () => true, 'resume', reads);
  return {
    runId,
    generation: plan.generation,
    missing: plan.keyCount,
    batches: plan.batchCount,
    totalBatches: batchCount(manifest),
    rebuilt,
    planMs: Date.now() - started,
    reads,
  };
}
