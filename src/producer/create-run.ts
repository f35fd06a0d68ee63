import type { S3Client } from '@aws-sdk/client-s3';
import type { Queue } from 'bullmq';
import type { Logger } from '../shared/logger.js';
import { labelFromKey, type ClassName } from '../shared/labels.js';
import { getTextIfExists, putJson } from '../shared/s3/objects.js';
import { formatS3Uri, type S3Location } from '../shared/s3/uri.js';
import { runLayout } from '../shared/run/layout.js';
import type { RunStore } from '../shared/run/run-store.js';
import type { RunItem, RunManifest } from '../shared/run/types.js';
import { enqueueBatches, planBatches } from './enqueue-batches.js';
import { listImagesOrFail } from './list-images.js';

export interface ProducerDeps {
  s3: S3Client;
  queue: Queue;
  store: RunStore;
  logger: Logger;
}

export interface ScoreRequest {
  runId: string;
  source: S3Location;
  out: S3Location;
  batchSize: number;
  /** Labels by key; when absent, labels come from NORMAL/ or PNEUMONIA/ folders in the keys. */
  labels?: { byKey: Map<string, ClassName>; from: string };
}

export interface CreatedRun {
  runId: string;
  keys: number;
  batches: number;
  /** True when the run already existed and only its unfinished batches were (re-)offered to the queue. */
  existed: boolean;
}

/** Lists the source, writes the input manifest and enqueues one job per batch. Safe to repeat for the same run id. */
export async function createRun(deps: ProducerDeps, req: ScoreRequest): Promise<CreatedRun> {
  const layout = runLayout(req.out, req.runId);
  const existing = await deps.store.get(req.runId);
  if (existing) {
    const manifest = await readManifest(deps.s3, req.out, req.runId);
    const done = await deps.store.doneBatchIds(req.runId);
    const pending = planBatches(manifest, manifest.items).filter((b) => !done.has(b.jobId));
    await enqueueBatches(deps.queue, pending);
    deps.logger.info({ runId: req.runId, pending: pending.length }, 'run exists; unfinished batches re-offered (duplicates ignored)');
    return { runId: req.runId, keys: manifest.items.length, batches: existing.totalBatches, existed: true };
  }

  const started = Date.now();
  const objects = await listImagesOrFail(deps.s3, req.source);
  const items: RunItem[] = objects.map((o) => {
    const label = req.labels ? req.labels.byKey.get(o.key) : labelFromKey(o.key);
    return label ? { ...o, label } : { ...o };
  });
  const manifest: RunManifest = {
    runId: req.runId,
    createdAt: new Date().toISOString(),
    source: req.source,
    out: req.out,
    batchSize: req.batchSize,
    labelsFrom: req.labels?.from ?? 'key-folders',
    items,
  };
  const batches = planBatches(manifest, items);
  await putJson(deps.s3, layout.bucket, layout.manifest, manifest);
  await deps.store.create(
    req.runId,
    { source: formatS3Uri(req.source), out: req.out, totalKeys: items.length, createdAt: manifest.createdAt },
    batches.map((b) => b.jobId),
  );
  await enqueueBatches(deps.queue, batches);
  deps.logger.info({ runId: req.runId, keys: items.length, batches: batches.length, ms: Date.now() - started }, 'run enqueued');
  return { runId: req.runId, keys: items.length, batches: batches.length, existed: false };
}

export async function readManifest(s3: S3Client, out: S3Location, runId: string): Promise<RunManifest> {
  const layout = runLayout(out, runId);
  const text = await getTextIfExists(s3, layout.bucket, layout.manifest);
  if (text === undefined) throw new Error(`run ${runId}: no manifest at s3://${layout.bucket}/${layout.manifest}`);
  return JSON.parse(text) as RunManifest;
}
