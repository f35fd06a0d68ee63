import pLimit from 'p-limit';
import { getTextIfExists, listObjects } from '../shared/s3/objects.js';
import { batchOfPartKey, runLayout } from '../shared/run/layout.js';
import type { S3Location } from '../shared/s3/uri.js';
import { scheduleFinalize } from '../shared/run/finalize-job.js';
import { parsePart } from '../worker/merge-parts.js';
import { readManifest, type ProducerDeps } from './create-run.js';
import { enqueueBatches, planBatches } from './enqueue-batches.js';

export interface ResumedRun {
  runId: string;
  missing: number;
  batches: number;
}

/** Enqueues, in new batches, only the run's keys that no part holds a prediction for. */
export async function resumeRun(deps: ProducerDeps, runId: string, outHint?: S3Location): Promise<ResumedRun> {
  const state = await deps.store.get(runId);
  const out = state?.out ?? outHint;
  if (!out) throw new Error(`run ${runId} is unknown to Redis; give --out so its manifest can be found`);
  const manifest = await readManifest(deps.s3, out, runId);
  const layout = runLayout(out, runId);
  const parts = await listObjects(deps.s3, layout.bucket, layout.partsPrefix, (k) => batchOfPartKey(k) !== undefined);

  const predicted = new Set<string>();
  const limit = pLimit(16);
  await Promise.all(
    parts.map((p) =>
      limit(async () => {
        const text = await getTextIfExists(deps.s3, layout.bucket, p.key);
        for (const line of text ? parsePart(text, p.key) : []) if (line.type === 'prediction') predicted.add(line.key);
      }),
    ),
  );
  const missing = manifest.items.filter((i) => !predicted.has(i.key));
  const nextBatch = Math.max(state?.totalBatches ?? 0, ...parts.map((p) => batchOfPartKey(p.key)! + 1));
  const batches = planBatches(manifest, missing, nextBatch);
  const scored = manifest.items.length - missing.length;

  if (state) await deps.store.resume(runId, batches.map((b) => b.jobId), scored);
  else {
    await deps.store.create(runId, { source: `s3://${manifest.source.bucket}/${manifest.source.prefix}`, out, totalKeys: manifest.items.length, createdAt: manifest.createdAt }, []);
    await deps.store.resume(runId, batches.map((b) => b.jobId), scored);
    deps.logger.warn({ runId }, 'run was missing from Redis; rebuilt its state from S3');
  }
  await enqueueBatches(deps.queue, batches);
  if (batches.length === 0) await scheduleFinalize(deps.queue, runId, out, nextBatch);
  deps.logger.info({ runId, missing: missing.length, batches: batches.length, firstBatch: nextBatch }, 'run resumed');
  return { runId, missing: missing.length, batches: batches.length };
}
