import type { S3Client } from '@aws-sdk/client-s3';
import pLimit from 'p-limit';
import { getCompleteIfExists, getJsonIfExists, getTextIfExists, listPages } from '../s3/objects.js';
import type { S3Location } from '../s3/uri.js';
import { generationOfKey, partOfKey, runLayout, type PartRef } from './layout.js';
import { addPart, currentGeneration, hasPart, planGenerations, type PartIndex, type RunRecord } from './plan.js';
import type { GenerationPlan, PartLine, PartMeta, RunHeader, RunItem, RunManifest, SkippedObject } from './types.js';
import { UserError } from '../errors.js';
import { parsePart } from './merge-parts.js';

const parseJson = <T>(bytes: Uint8Array) => JSON.parse(Buffer.from(bytes).toString('utf8')) as T;

/** The manifest index (manifest.json), or undefined while the run's listing is not complete. */
export async function readManifestIfExists(s3: S3Client, out: S3Location, runId: string): Promise<RunManifest | undefined> {
  const layout = runLayout(out, runId);
  const got = await getCompleteIfExists(s3, layout.bucket, layout.manifest); // another producer may be writing it
  return got ? parseJson<RunManifest>(got.bytes) : undefined;
}

export async function readManifest(s3: S3Client, out: S3Location, runId: string): Promise<RunManifest> {
  const manifest = await readManifestIfExists(s3, out, runId);
  if (!manifest) throw new UserError(`run ${runId}: no manifest at s3://${out.bucket}/${runLayout(out, runId).manifest} (its listing never completed; run the same cxr score again)`);
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

/** The run header; cached, it never changes. */
export function readHeader(s3: S3Client, out: S3Location, runId: string): Promise<RunHeader> {
  return headers.get(`${out.bucket}/${out.prefix}/${runId}`, async () => {
    const h = await readHeaderIfExists(s3, out, runId);
    if (!h) throw new UserError(`run ${runId}: no run header at s3://${out.bucket}/${runLayout(out, runId).header}`);
    return h;
  });
}

/** Generation G's plan; cached. */
export function readGenerationPlan(s3: S3Client, header: Pick<RunHeader, 'out' | 'runId'>, generation: number): Promise<GenerationPlan> {
  const layout = runLayout(header.out, header.runId);
  const key = layout.generation(generation);
  return plans.get(`${layout.bucket}/${key}`, async () => {
    const plan = await getJsonIfExists<GenerationPlan>(s3, layout.bucket, key);
    if (!plan) throw new Error(`run ${header.runId}: no plan for generation ${generation} at s3://${layout.bucket}/${key}`);
    return plan;
  });
}

/** The items of a manifest shard (JSONL); cached, a shard never changes once written. */
export function readShard(s3: S3Client, bucket: string, key: string): Promise<RunItem[]> {
  return shards.get(`${bucket}/${key}`, async () => {
    const text = await getTextIfExists(s3, bucket, key);
    if (text === undefined) throw new Error(`manifest shard s3://${bucket}/${key} is missing`);
    return parseJsonl<RunItem>(text, key);
  });
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
    if (s.skippedKey) out.push(...parseJsonl<SkippedObject>((await getTextIfExists(s3, manifest.out.bucket, s.skippedKey)) ?? '', s.skippedKey));
  }
  return out;
}

/** The run as S3 records it: manifest index, generation plans, and which part files exist (a bitmap each generation). */
export async function loadRunRecord(s3: S3Client, manifest: RunManifest): Promise<RunRecord> {
  const layout = runLayout(manifest.out, manifest.runId);
  const parts: PartIndex = new Map();
  const planKeys: string[] = [];
  await Promise.all([
    (async () => {
      for await (const page of listPages(s3, layout.bucket, layout.generationsPrefix)) for (const o of page) if (generationOfKey(o.key) !== undefined) planKeys.push(o.key);
    })(),
    (async () => {
      for await (const page of listPages(s3, layout.bucket, layout.partsPrefix)) {
        for (const o of page) {
          const ref = partOfKey(o.key);
          if (ref) addPart(parts, ref, manifest.totalBatches);
        }
      }
    })(),
  ]);
  const loaded = await Promise.all(planKeys.map((k) => readGenerationPlan(s3, manifest, generationOfKey(k)!)));
  return { manifest, plans: loaded.sort((a, b) => a.generation - b.generation), parts };
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

/**
 * Walks the run's batches in order, reading each shard once and each batch's parts (`ahead` batches read
 * at once), so memory holds a shard and a few batches, never the run. `withMeta`: the current part's meta too.
 */
export async function* walkBatches(
  s3: S3Client,
  record: RunRecord,
  opts: { withMeta?: boolean; only?: (batch: number) => boolean; ahead?: number } = {},
): AsyncGenerator<BatchRecord> {
  const { manifest } = record;
  const layout = runLayout(manifest.out, manifest.runId);
  const gens = planGenerations(record.plans);
  const limit = pLimit(16);
  const ahead = opts.ahead ?? 64;
  const read = (batch: number, items: RunItem[]): Promise<BatchRecord> => {
    const generation = currentGeneration(gens, batch);
    const ran = [0, ...(gens.get(batch) ?? [])].filter((g) => hasPart(record.parts, batch, g));
    return Promise.all(
      ran.map((g) =>
        limit(async (): Promise<LoadedPart> => {
          const key = layout.part(batch, g);
          const [text, meta] = await Promise.all([
            getTextIfExists(s3, layout.bucket, key),
            opts.withMeta ? getJsonIfExists<PartMeta>(s3, layout.bucket, layout.partMeta(batch, g)) : undefined,
          ]);
          const raw = new Map<PartLine, string>();
          return { batch, generation: g, lines: text ? parsePart(text, key, raw) : [], raw, meta };
        }),
      ),
    ).then((parts) => ({ batch, items, generation, parts }));
  };
  for (const shard of manifest.shards) {
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
}

/** Keys with a prediction in any of the batch's parts. Pure. */
export function predictedKeys(parts: readonly { lines: readonly PartLine[] }[]): Set<string> {
  const keys = new Set<string>();
  for (const p of parts) for (const l of p.lines) if (l.type === 'prediction') keys.add(l.key);
  return keys;
}
