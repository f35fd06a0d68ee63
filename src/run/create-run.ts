import { randomUUID } from 'node:crypto';
import { labelFromKey, type ClassName } from '../shared/labels.js';
import { UserError } from '../shared/errors.js';
import { putIfAbsent } from '../shared/s3/put-if-absent.js';
import { listPages } from '../shared/s3/objects.js';
import { formatS3Uri, type S3Location } from '../shared/s3/uri.js';
import { runLayout } from './layout.js';
import { scheduleFinalize } from './finalize-job.js';
import type { RunHeader, RunItem, RunManifest, ShardEntry } from './types.js';
import { CANDIDATE_EXTENSIONS } from '../shared/s3/list-images.js';
import { ensureRunInRedis, reofferPending, type RunDeps } from './reconcile.js';
import { topUp } from './feed.js';
import { parseJsonl, readManifestIfExists } from './run-record.js';
import { ShardWriter, shardTotals } from './shard-writer.js';
import { collectGarbageIfGrown } from './heap.js';
import {
  discoverPrefixes,
  listingPages,
  manifestPages,
  parallelListingPages,
  type ListingUnit,
  type SourcePage,
} from './sources.js';
import { getTextIfExists } from '../shared/s3/objects.js';

/** Batches per manifest shard unless --batches-per-shard says otherwise. */
export const DEFAULT_BATCHES_PER_SHARD = 1000;

export interface ScoreRequest {
  runId: string;
  source: S3Location;
  out: S3Location;
  batchSize: number;
  batchesPerShard?: number;
  /** An input manifest (s3://…/keys.jsonl or .csv) to take the keys from instead of listing `source`. */
  manifest?: string;
  /** List these sub-prefixes of the source in parallel (in this order), or discover them to this depth. */
  shardPrefixes?: string[];
  discoverDepth?: number;
  listParallel?: number;
  /** --max-queued-batches: batch jobs allowed in the queue at once. */
  maxQueuedBatches?: number;
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
  /** How this producer came to the run: it listed it, another producer had (adopted), or it existed already. */
  how: 'created' | 'adopted' | 'existed';
}

/** How long a producer's listing lease lives unless renewed (it is renewed every third of this). */
const LEASE_MS = 15_000;

/**
 * Creates a run, streaming: the header (run.json) is written put-if-absent first; the producer holding the
 * run's listing lease lists page by page, writes manifest shards as they fill, and feeds the queue up to
 * its window as it goes; the manifest index is written last. A second producer waits for the index (or
 * takes the listing over when the lease lapses, going on after the last whole shard). Safe to repeat.
 */
export async function createRun(deps: RunDeps, req: ScoreRequest): Promise<CreatedRun> {
  const layout = runLayout(req.out, req.runId);
  const summary = (m: RunManifest, how: CreatedRun['how']): CreatedRun => ({
    runId: req.runId,
    keys: m.totalKeys,
    batches: m.totalBatches,
    skipped: m.skipped,
    how,
  });

  const existing = await readManifestIfExists(deps.s3, req.out, req.runId);
  if (existing) {
    assertSameSource(existing, req);
    const state = await deps.store.get(req.runId);
    if (state) {
      // A producer that died between the index and telling Redis the listing was complete.
      if (state.listing)
        await deps.store.extend(req.runId, {
          totalKeys: existing.totalKeys,
          totalBatches: existing.totalBatches,
          skipped: existing.skipped,
          listing: false,
        });
      const pending = await reofferPending(deps, existing);
      deps.logger.info(
        { runId: req.runId, pending },
        'run exists; unfinished batches offered again (duplicates ignored)',
      );
    } else {
      const { pending } = await ensureRunInRedis(deps, existing);
      deps.logger.warn(
        { runId: req.runId, pending },
        'run was in S3 but not in Redis; rebuilt it from its manifest and parts',
      );
    }
    return summary(existing, 'existed');
  }

  const wanted: RunHeader = {
    runId: req.runId,
    createdAt: new Date().toISOString(),
    source: req.source,
    ...(req.manifest ? { input: req.manifest } : {}),
    out: req.out,
    batchSize: req.batchSize,
    batchesPerShard: req.batchesPerShard ?? DEFAULT_BATCHES_PER_SHARD,
    labelsFrom: req.labels?.from ?? (req.manifest ? req.manifest : 'key-folders'),
    ...(req.skipFlagged ? { skipFlagged: true } : {}),
  };
  const put = await putIfAbsent(
    deps.s3,
    deps.claims,
    layout.bucket,
    layout.header,
    Buffer.from(JSON.stringify(wanted, null, 2) + '\n'),
    'application/json',
    { probePrefix: req.out.prefix },
  );
  const header = put.created ? wanted : (JSON.parse(Buffer.from(put.bytes).toString('utf8')) as RunHeader);
  assertSameSource(header, req);

  const holder = randomUUID();
  for (;;) {
    if (await deps.store.lease(req.runId, holder, LEASE_MS)) break;
    const index = await readManifestIfExists(deps.s3, req.out, req.runId);
    if (index) {
      deps.logger.warn(
        { runId: req.runId, keys: index.totalKeys },
        `another producer created run ${req.runId} first; adopting its manifest (${index.totalKeys} keys; this producer did not list)`,
      );
      await reofferPending(deps, index);
      return summary(index, 'adopted');
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  // Unref'd: the listing keeps the process alive while it runs. A listing abandoned because Redis is gone may wait
  // for ever (ioredis leaves commands queued while reconnecting pending when disconnect() comes during the backoff),
  // and its renewal must not then be what holds the process open (npm run bench's lost-Redis exit).
  const renew = setInterval(
    () => void deps.store.lease(req.runId, holder, LEASE_MS).catch(() => undefined),
    LEASE_MS / 3,
  ).unref();
  try {
    const index = (await readManifestIfExists(deps.s3, req.out, req.runId)) ?? (await listRun(deps, req, header));
    return summary(index, put.created ? 'created' : 'adopted');
  } finally {
    clearInterval(renew);
    await deps.store.releaseLease(req.runId, holder).catch(() => undefined);
  }
}

/** Lists the source into shards (after the shards a lapsed producer wrote), feeding the queue as shards land; writes the index. */
async function listRun(deps: RunDeps, req: ScoreRequest, header: RunHeader): Promise<RunManifest> {
  const started = Date.now();
  const layout = runLayout(header.out, header.runId);
  const written = await writtenShards(deps, header);
  const totals0 = shardTotals(written);
  const created = await deps.store.create(
    header.runId,
    {
      source: formatS3Uri(header.source),
      out: header.out,
      ...totals0,
      createdAt: header.createdAt,
      listing: true,
      window: req.maxQueuedBatches,
    },
    { generation: 0, plan: [], scored: 0, failed: 0 },
  );
  if (!created) await deps.store.extend(header.runId, { ...totals0, listing: true });
  if (written.length)
    deps.logger.warn(
      { runId: header.runId, shards: written.length, keys: totals0.totalKeys },
      'taking over a listing whose producer stopped; going on after its last whole shard',
    );

  const writer = new ShardWriter(deps.s3, header, written, async (entry, all) => {
    await deps.store.extend(header.runId, { ...shardTotals(all), listing: true });
    const fed = await topUp(deps, header);
    collectGarbageIfGrown();
    deps.logger.debug({ runId: header.runId, shard: entry.shard, keys: entry.items, fed }, 'manifest shard written');
  });
  const short = written.at(-1) && written.at(-1)!.items < header.batchSize * header.batchesPerShard;
  if (!short) {
    for await (const page of sourcePages(deps, req, header, written)) {
      await writer.add(
        page.images.map((o) => toItem(o, req, header)),
        page.skipped,
      );
    }
    await writer.flush();
  }
  const totals = shardTotals(writer.shards);
  if (totals.totalKeys === 0) {
    const what = header.input ? `in --manifest ${header.input}` : `under ${formatS3Uri(header.source)}`;
    throw new UserError(
      `no images ${what}: ${totals.skipped} objects seen, none with a supported extension (${CANDIDATE_EXTENSIONS.join(' ')}, or none)`,
    );
  }
  const built: RunManifest = { ...header, ...totals, shards: writer.shards };
  const put = await putIfAbsent(
    deps.s3,
    deps.claims,
    layout.bucket,
    layout.manifest,
    Buffer.from(JSON.stringify(built) + '\n'),
    'application/json',
    { probePrefix: header.out.prefix },
  );
  const manifest = put.created ? built : (JSON.parse(Buffer.from(put.bytes).toString('utf8')) as RunManifest);
  if (
    !(await deps.store.extend(header.runId, {
      totalKeys: manifest.totalKeys,
      totalBatches: manifest.totalBatches,
      skipped: manifest.skipped,
      listing: false,
    }))
  ) {
    deps.logger.warn(
      { runId: header.runId },
      'Redis lost the run while it was listed; rebuilding it from the manifest and parts',
    );
    await ensureRunInRedis(deps, manifest);
  }
  if (totals.skipped)
    deps.logger.warn(
      { runId: header.runId, skipped: totals.skipped },
      'objects the pipeline does not score are listed in the manifest shards as skipped',
    );
  await topUp(deps, header);
  const state = await deps.store.get(header.runId);
  if (state?.status === 'running' && state.doneBatches >= state.totalBatches)
    await scheduleFinalize(deps.queue, header.runId, header.out, state.generation);
  if (state?.status === 'failed')
    await scheduleFinalize(deps.queue, header.runId, header.out, state.generation, 'listed');
  const ms = Date.now() - started;
  deps.logger.info(
    {
      runId: header.runId,
      keys: manifest.totalKeys,
      batches: manifest.totalBatches,
      shards: manifest.shards.length,
      skipped: manifest.skipped,
      ms,
      keysPerSec: Math.round((manifest.totalKeys * 1000) / Math.max(1, ms)),
    },
    'manifest written; run enqueued',
  );
  return manifest;
}

/** The source's pages after what `written` holds: an input manifest, sub-prefixes in parallel, or one listing. */
function sourcePages(
  deps: RunDeps,
  req: ScoreRequest,
  header: RunHeader,
  written: readonly ShardEntry[],
): AsyncGenerator<SourcePage> {
  if (header.input)
    return manifestPages(
      deps.s3,
      header.input,
      header.source,
      1000,
      written.reduce((n, s) => n + s.items + s.skipped, 0),
    );
  const after = written.at(-1)?.lastKey;
  const parallel = req.listParallel ?? 8;
  if (req.shardPrefixes?.length || (req.discoverDepth ?? 0) > 0) {
    return (async function* () {
      const units: ListingUnit[] = req.shardPrefixes?.length
        ? req.shardPrefixes.map((prefix) => ({ prefix }))
        : await discoverPrefixes(deps.s3, header.source.bucket, header.source.prefix, req.discoverDepth!);
      deps.logger.info({ units: units.length, parallel }, 'listing sub-prefixes in parallel');
      // A listing taken over lists the units again and keeps the keys after the last whole shard.
      const rest = after
        ? units.filter((u) => ('prefix' in u ? u.prefix > after || after.startsWith(u.prefix) : u.object.key > after))
        : units;
      for await (const page of parallelListingPages(deps.s3, header.source.bucket, rest, parallel)) {
        yield after
          ? { images: page.images.filter((o) => o.key > after), skipped: page.skipped.filter((o) => o.key > after) }
          : page;
      }
    })();
  }
  return listingPages(deps.s3, header.source, after);
}

function toItem(
  o: { key: string; etag: string; size: number; label?: ClassName },
  req: ScoreRequest,
  header: RunHeader,
): RunItem {
  const label = req.labels ? req.labels.byKey.get(o.key) : header.input ? o.label : labelFromKey(o.key);
  return { key: o.key, etag: o.etag, size: o.size, ...(label ? { label } : {}) };
}

/** The whole shards a producer that stopped before the index had written (0..n-1, in order), with their entries rebuilt. */
async function writtenShards(deps: RunDeps, header: RunHeader): Promise<ShardEntry[]> {
  const layout = runLayout(header.out, header.runId);
  const keys = new Set<string>();
  for await (const page of listPages(deps.s3, layout.bucket, `${layout.root}/manifest/`))
    for (const o of page) keys.add(o.key);
  const out: ShardEntry[] = [];
  for (let n = 0; keys.has(layout.manifestShard(n)); n++) {
    const items = parseJsonl<RunItem>(
      (await getTextIfExists(deps.s3, layout.bucket, layout.manifestShard(n))) ?? '',
      layout.manifestShard(n),
    );
    const skippedKey = keys.has(layout.skippedShard(n)) ? layout.skippedShard(n) : undefined;
    const skipped = skippedKey
      ? parseJsonl<{ key: string }>((await getTextIfExists(deps.s3, layout.bucket, skippedKey)) ?? '', skippedKey)
      : [];
    const prev = out.at(-1);
    out.push({
      shard: n,
      key: layout.manifestShard(n),
      items: items.length,
      firstBatch: prev ? prev.firstBatch + prev.batches : 0,
      batches: Math.ceil(items.length / header.batchSize),
      skipped: skipped.length,
      ...(skippedKey ? { skippedKey } : {}),
      lastKey: [items.at(-1)?.key ?? '', skipped.at(-1)?.key ?? ''].sort().at(-1)!,
    });
  }
  return out;
}

function assertSameSource(header: RunHeader, req: ScoreRequest): void {
  const theirs = header.input ?? formatS3Uri(header.source);
  const mine = req.manifest ?? formatS3Uri(req.source);
  if (theirs !== mine)
    throw new UserError(`run id ${req.runId} already belongs to ${theirs}, not ${mine}: choose another --run-id`);
}
