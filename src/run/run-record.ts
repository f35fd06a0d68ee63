import type { S3Client } from '@aws-sdk/client-s3';
import pLimit from 'p-limit';
import {
  getBytesIfExists,
  getCompleteIfExists,
  getJsonIfExists,
  getTextIfExists,
  listPages,
} from '../shared/s3/objects.js';
import type { S3Location } from '../shared/s3/uri.js';
import { generationOfKey, partMetaOfKey, partOfKey, runLayout, type PartRef } from './layout.js';
import {
  addPart,
  currentGeneration,
  hasPart,
  planFromDocument,
  planGenerations,
  type PartIndex,
  type RunRecord,
} from './plan.js';
import type {
  GenerationPlan,
  LegacyGenerationPlan,
  PartLine,
  PartMeta,
  PlanLine,
  RunHeader,
  RunItem,
  RunManifest,
  ShardEntry,
  SkippedObject,
} from './types.js';
import { ShardFingerprints, type ReadCounter } from './checkpoint.js';
import { UserError } from '../shared/errors.js';
import { parsePart } from './merge-parts.js';

const parseJson = <T>(bytes: Uint8Array) => JSON.parse(Buffer.from(bytes).toString('utf8')) as T;

/** The manifest index (manifest.json), or undefined while the run's listing is not complete. */
export async function readManifestIfExists(
  s3: S3Client,
  out: S3Location,
  runId: string,
): Promise<RunManifest | undefined> {
  const layout = runLayout(out, runId);
  const got = await getCompleteIfExists(s3, layout.bucket, layout.manifest); // another producer may be writing it
  return got ? parseJson<RunManifest>(got.bytes) : undefined;
}

export async function readManifest(s3: S3Client, out: S3Location, runId: string): Promise<RunManifest> {
  const manifest = await readManifestIfExists(s3, out, runId);
  if (!manifest)
    throw new UserError(
      `run ${runId}: no manifest at s3://${out.bucket}/${runLayout(out, runId).manifest} (its listing never completed; run the same cxr score again)`,
    );
  return manifest;
}

export async function readHeaderIfExists(s3: S3Client, out: S3Location, runId: string): Promise<RunHeader | undefined> {
  const layout = runLayout(out, runId);
  const got = await getCompleteIfExists(s3, layout.bucket, layout.header);
  return got ? parseJson<RunHeader>(got.bytes) : undefined;
}

/** A small per-process cache of immutable run objects (shards, headers, plans), the oldest dropped first. */
class Cache<T> {
  private readonly map = new Map<string, Promise<T>>();
  constructor(private readonly size: number) {}
  get(key: string, load: () => Promise<T>): Promise<T> {
    let p = this.map.get(key);
    if (!p) {
      p = load();
      p.catch(() => this.map.delete(key));
      this.map.set(key, p);
      if (this.map.size > this.size) this.map.delete(this.map.keys().next().value!);
    }
    return p;
  }
}

const headers = new Cache<RunHeader>(16);
const plans = new Cache<GenerationPlan>(8);
const shards = new Cache<RunItem[]>(4);
const planShards = new Cache<PlanLine[]>(4);

/** The run header; cached, it never changes. */
export function readHeader(s3: S3Client, out: S3Location, runId: string): Promise<RunHeader> {
  return headers.get(`${out.bucket}/${out.prefix}/${runId}`, async () => {
    const h = await readHeaderIfExists(s3, out, runId);
    if (!h) throw new UserError(`run ${runId}: no run header at s3://${out.bucket}/${runLayout(out, runId).header}`);
    return h;
  });
}

/** Generation G's plan index (or a previous version's whole plan); cached. */
export function readGenerationPlan(
  s3: S3Client,
  header: Pick<RunHeader, 'out' | 'runId' | 'batchesPerShard'>,
  generation: number,
): Promise<GenerationPlan> {
  const layout = runLayout(header.out, header.runId);
  const key = layout.generation(generation);
  return plans.get(`${layout.bucket}/${key}`, async () => {
    const doc = await getJsonIfExists<GenerationPlan | LegacyGenerationPlan>(s3, layout.bucket, key);
    if (!doc)
      throw new Error(`run ${header.runId}: no plan for generation ${generation} at s3://${layout.bucket}/${key}`);
    return planFromDocument(doc, header);
  });
}

/** JSONL lines of an immutable object, cached in `cache`. */
function readLines<T>(cache: Cache<T[]>, what: string, s3: S3Client, bucket: string, key: string): Promise<T[]> {
  return cache.get(`${bucket}/${key}`, async () => {
    const text = await getTextIfExists(s3, bucket, key);
    if (text === undefined) throw new Error(`${what} s3://${bucket}/${key} is missing`);
    return parseJsonl<T>(text, key);
  });
}

/** The items of a manifest shard (JSONL); cached, a shard never changes once written. */
export function readShard(s3: S3Client, bucket: string, key: string): Promise<RunItem[]> {
  return readLines(shards, 'manifest shard', s3, bucket, key);
}

/** The lines of a generation plan shard; cached like manifest shards. */
export function readPlanShard(s3: S3Client, bucket: string, key: string): Promise<PlanLine[]> {
  return readLines(planShards, 'plan shard', s3, bucket, key);
}

export function parseJsonl<T>(text: string, name: string): T[] {
  const out: T[] = [];
  let i = 0;
  for (const line of text.split('\n')) {
    i++;
    if (!line.trim()) continue;
    try {
      out.push(JSON.parse(line) as T);
    } catch {
      throw new Error(`${name} line ${i} is not JSON`);
    }
  }
  return out;
}

/** Every key of the run, shard by shard: for inspection and tests of small runs (a 10 M run's keys do not belong in one array). */
export async function readAllItems(s3: S3Client, manifest: RunManifest): Promise<RunItem[]> {
  const out: RunItem[] = [];
  for (const s of manifest.shards) out.push(...(await readShard(s3, manifest.out.bucket, s.key)));
  return out;
}

/** Every skipped object of the run, shard by shard (for inspection; a run rarely skips many). */
export async function readSkipped(s3: S3Client, manifest: RunManifest): Promise<SkippedObject[]> {
  const out: SkippedObject[] = [];
  for (const s of manifest.shards) {
    if (s.skippedKey)
      out.push(
        ...parseJsonl<SkippedObject>(
          (await getTextIfExists(s3, manifest.out.bucket, s.skippedKey)) ?? '',
          s.skippedKey,
        ),
      );
  }
  return out;
}

/**
 * The run as S3 records it: manifest index, generation plans, which part files exist (a bitmap each
 * generation), and each manifest shard's fingerprint of the part and meta objects its merge reads.
 */
export async function loadRunRecord(s3: S3Client, manifest: RunManifest): Promise<RunRecord> {
  const layout = runLayout(manifest.out, manifest.runId);
  const planKeys: string[] = [];
  for await (const page of listPages(s3, layout.bucket, layout.generationsPrefix))
    for (const o of page) if (generationOfKey(o.key) !== undefined) planKeys.push(o.key);
  const loaded = await Promise.all(planKeys.map((k) => readGenerationPlan(s3, manifest, generationOfKey(k)!)));
  const gens = planGenerations(loaded);
  const merged = (r: PartRef) => r.generation === 0 || (gens.get(r.batch)?.includes(r.generation) ?? false);
  const parts: PartIndex = new Map();
  const fingerprints = new ShardFingerprints();
  for await (const page of listPages(s3, layout.bucket, layout.partsPrefix)) {
    for (const o of page) {
      const part = partOfKey(o.key);
      if (part) addPart(parts, part, manifest.totalBatches);
      const ref = part ?? partMetaOfKey(o.key);
      if (ref && merged(ref)) fingerprints.add(Math.floor(ref.batch / manifest.batchesPerShard), o.key, o.etag);
    }
  }
  return { manifest, plans: loaded.sort((a, b) => a.generation - b.generation), parts, fingerprints };
}

export interface LoadedPart extends PartRef {
  lines: PartLine[];
  /** Each line's text as the part holds it. */
  raw: Map<PartLine, string>;
  meta?: PartMeta;
}

/** One batch as S3 records it: its manifest keys, current generation, and the parts of every generation that ran it (in generation order). */
export interface BatchRecord {
  batch: number;
  items: RunItem[];
  generation: number;
  parts: LoadedPart[];
}

export interface WalkOptions {
  /** Each part's meta too. */
  withMeta?: boolean;
  only?: (batch: number) => boolean;
  /** Batches read at once. */
  ahead?: number;
  /** Counts the part and meta objects read. */
  reads?: ReadCounter;
}

/**
 * Walks the run's batches in order, reading each shard once and each batch's parts (`ahead` batches read
 * at once), so memory holds a shard and a few batches, never the run.
 */
export async function* walkBatches(
  s3: S3Client,
  record: RunRecord,
  opts: WalkOptions = {},
): AsyncGenerator<BatchRecord> {
  const gens = planGenerations(record.plans);
  for (const shard of record.manifest.shards) yield* walkShard(s3, record, shard, opts, gens);
}

/** Walks one manifest shard's batches in order (see walkBatches); `gens` from planGenerations(record.plans). */
export async function* walkShard(
  s3: S3Client,
  record: RunRecord,
  shard: ShardEntry,
  opts: WalkOptions = {},
  gens = planGenerations(record.plans),
): AsyncGenerator<BatchRecord> {
  const { manifest } = record;
  const layout = runLayout(manifest.out, manifest.runId);
  const limit = pLimit(16);
  const ahead = opts.ahead ?? 64;
  const read = (batch: number, items: RunItem[]): Promise<BatchRecord> => {
    const generation = currentGeneration(gens, batch);
    const ran = [0, ...(gens.get(batch) ?? [])].filter((g) => hasPart(record.parts, batch, g));
    return Promise.all(
      ran.map((g) =>
        limit(async (): Promise<LoadedPart> => {
          const key = layout.part(batch, g);
          const [bytes, metaBytes] = await Promise.all([
            getBytesIfExists(s3, layout.bucket, key),
            opts.withMeta ? getBytesIfExists(s3, layout.bucket, layout.partMeta(batch, g)) : undefined,
          ]);
          for (const b of [bytes, metaBytes]) if (b) opts.reads?.count('parts', b.byteLength);
          const raw = new Map<PartLine, string>();
          const text = (b: Uint8Array) => Buffer.from(b).toString('utf8');
          const meta = metaBytes ? (JSON.parse(text(metaBytes)) as PartMeta) : undefined;
          return { batch, generation: g, lines: bytes ? parsePart(text(bytes), key, raw) : [], raw, meta };
        }),
      ),
    ).then((parts) => ({ batch, items, generation, parts }));
  };
  const items = await readShard(s3, layout.bucket, shard.key);
  const queue: Promise<BatchRecord>[] = [];
  let next = 0;
  const fill = () => {
    while (queue.length < ahead && next < shard.batches) {
      const b = shard.firstBatch + next;
      const slice = items.slice(next * manifest.batchSize, (next + 1) * manifest.batchSize);
      next++;
      if (!opts.only || opts.only(b)) queue.push(read(b, slice));
    }
  };
  fill();
  while (queue.length) {
    const rec = await queue.shift()!;
    fill();
    yield rec;
  }
}

/** Keys with a prediction in any of the batch's parts. Pure. */
export function predictedKeys(parts: readonly { lines: readonly PartLine[] }[]): Set<string> {
  const keys = new Set<string>();
  for (const p of parts) for (const l of p.lines) if (l.type === 'prediction') keys.add(l.key);
  return keys;
}
