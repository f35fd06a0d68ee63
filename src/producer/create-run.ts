import { labelFromKey, type ClassName } from '../shared/labels.js';
import { UserError } from '../shared/errors.js';
import { putIfAbsent } from '../shared/s3/put-if-absent.js';
import { formatS3Uri, type S3Location } from '../shared/s3/uri.js';
import { runLayout } from '../shared/run/layout.js';
import { batchCount } from '../shared/run/plan.js';
import type { RunItem, RunManifest } from '../shared/run/types.js';
import { listSourceOrFail } from './list-images.js';
import { ensureRunInRedis, reofferPending, type RunDeps } from './reconcile.js';
import { readManifestIfExists } from './run-record.js';

export { readManifest } from './run-record.js';

export type ProducerDeps = RunDeps;

export interface ScoreRequest {
  runId: string;
  source: S3Location;
  out: S3Location;
  batchSize: number;
  /** Labels by key; when absent, labels come from NORMAL/ or PNEUMONIA/ folders in the keys. */
  labels?: { byKey: Map<string, ClassName>; from: string };
  /** Flagged images fail (stage 'flagged') instead of being scored. */
  skipFlagged?: boolean;
}

export interface CreatedRun {
  runId: string;
  keys: number;
  batches: number;
  skipped: number;
  /** How this producer came to the run: it wrote the manifest, another producer had (adopted), or it existed already. */
  how: 'created' | 'adopted' | 'existed';
}

/**
 * Lists the source, writes the input manifest (first producer wins; a later one adopts the winner's)
 * and enqueues one job per batch. Safe to repeat for the same run id: a run that exists in Redis has its
 * unfinished batches offered again; one that exists only in S3 is rebuilt from its manifest and parts.
 */
export async function createRun(deps: RunDeps, req: ScoreRequest): Promise<CreatedRun> {
  const layout = runLayout(req.out, req.runId);
  const summary = (m: RunManifest, how: CreatedRun['how']): CreatedRun => ({ runId: req.runId, keys: m.items.length, batches: batchCount(m), skipped: m.skipped?.length ?? 0, how });

  let manifest = await readManifestIfExists(deps.s3, req.out, req.runId);
  if (manifest && (await deps.store.get(req.runId))) {
    assertSameSource(manifest, req);
    const pending = await reofferPending(deps, manifest);
    deps.logger.info({ runId: req.runId, pending }, 'run exists; unfinished batches offered again (duplicates ignored)');
    return summary(manifest, 'existed');
  }
  let how: CreatedRun['how'] = 'existed';
  if (!manifest) {
    const started = Date.now();
    const built = await buildManifest(deps, req);
    const put = await putIfAbsent(deps.s3, deps.claims, layout.bucket, layout.manifest, Buffer.from(JSON.stringify(built, null, 2) + '\n'), 'application/json', { probePrefix: req.out.prefix });
    manifest = put.created ? built : (JSON.parse(Buffer.from(put.bytes).toString('utf8')) as RunManifest);
    how = put.created ? 'created' : 'adopted';
    if (!put.created) {
      deps.logger.warn(
        { runId: req.runId, keys: manifest.items.length, listed: built.items.length },
        `another producer created run ${req.runId} first; adopting its manifest (${manifest.items.length} keys; this producer listed ${built.items.length})`,
      );
    }
    deps.logger.info({ runId: req.runId, keys: manifest.items.length, skipped: manifest.skipped?.length ?? 0, ms: Date.now() - started }, 'manifest written');
  }
  assertSameSource(manifest, req);
  const { created, pending } = await ensureRunInRedis(deps, manifest);
  if (how === 'existed') deps.logger.warn({ runId: req.runId, pending }, 'run was in S3 but not in Redis; rebuilt it from its manifest and parts');
  deps.logger.info({ runId: req.runId, keys: manifest.items.length, batches: batchCount(manifest), pending, registered: created }, 'run enqueued');
  return summary(manifest, how);
}

async function buildManifest(deps: RunDeps, req: ScoreRequest): Promise<RunManifest> {
  const { images, skipped } = await listSourceOrFail(deps.s3, req.source);
  const items: RunItem[] = images.map((o) => {
    const label = req.labels ? req.labels.byKey.get(o.key) : labelFromKey(o.key);
    return label ? { ...o, label } : { ...o };
  });
  if (skipped.length) deps.logger.warn({ runId: req.runId, skipped: skipped.length, first: skipped[0] }, 'objects the pipeline does not score are listed in the manifest as skipped');
  return {
    runId: req.runId,
    createdAt: new Date().toISOString(),
    source: req.source,
    out: req.out,
    batchSize: req.batchSize,
    labelsFrom: req.labels?.from ?? 'key-folders',
    items,
    skipped,
    ...(req.skipFlagged ? { skipFlagged: true } : {}),
  };
}

function assertSameSource(manifest: RunManifest, req: ScoreRequest): void {
  if (formatS3Uri(manifest.source) !== formatS3Uri(req.source)) {
    throw new UserError(`run id ${req.runId} already belongs to ${formatS3Uri(manifest.source)}, not ${formatS3Uri(req.source)}: choose another --run-id`);
  }
}
