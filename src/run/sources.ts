import { ListObjectsV2Command, type S3Client } from '@aws-sdk/client-s3';
import { UserError } from '../shared/errors.js';
import { listPages, type ListedObject } from '../shared/s3/objects.js';
import { objectLines } from '../shared/s3/object-lines.js';
import { formatS3Uri, joinKey, parseS3Uri, type S3Location } from '../shared/s3/uri.js';
import { parseClassName, type ClassName } from '../shared/labels.js';
import type { SkippedObject } from './types.js';
import { skipReason } from '../shared/s3/list-images.js';

/** One page of a source: the objects to score, in source order, and those skipped with the reason. */
export interface SourcePage {
  images: (ListedObject & { label?: ClassName })[];
  skipped: SkippedObject[];
}

/** Splits listed objects into images and skipped ones (folder markers are neither). Pure. */
export function splitPage(objects: readonly (ListedObject & { label?: ClassName })[]): SourcePage {
  const page: SourcePage = { images: [], skipped: [] };
  for (const o of objects) {
    if (o.key.endsWith('/')) continue;
    const reason = skipReason(o.key);
    if (reason) page.skipped.push({ key: o.key, etag: o.etag, size: o.size, reason });
    else page.images.push(o);
  }
  return page;
}

/** The listing of a prefix, page by page in S3's (sorted) key order, after `startAfter` when resuming a listing. */
export async function* listingPages(s3: S3Client, source: S3Location, startAfter?: string): AsyncGenerator<SourcePage> {
  for await (const page of listPages(s3, source.bucket, source.prefix, startAfter)) yield splitPage(page);
}

/** A piece of a listing split for parallel listing: a sub-prefix to list, or an object found beside the sub-prefixes. */
export type ListingUnit = { prefix: string } | { object: ListedObject };

/**
 * Lists each unit (in their order) with up to `parallel` listings running ahead, each holding at most
 * `ahead` pages, so memory stays bounded while pages still come out in key order.
 */
export async function* parallelListingPages(
  s3: S3Client,
  bucket: string,
  units: readonly ListingUnit[],
  parallel: number,
  ahead = 4,
): AsyncGenerator<SourcePage> {
  const pumps = units.map(
    (u) => new PagePump('prefix' in u ? listPages(s3, bucket, u.prefix) : single(u.object), ahead),
  );
  for (let i = 0; i < pumps.length; i++) {
    for (let j = i; j < Math.min(pumps.length, i + parallel); j++) pumps[j].start();
    for await (const page of pumps[i].pages()) yield splitPage(page);
  }
}

async function* single(o: ListedObject): AsyncGenerator<ListedObject[]> {
  yield [o];
}

/** Pulls pages from a listing into a small buffer ahead of the reader. */
class PagePump {
  private buffer: ListedObject[][] = [];
  private done = false;
  private error: unknown;
  private wake?: () => void;
  private space?: () => void;
  private started = false;

  constructor(
    private readonly source: AsyncGenerator<ListedObject[]>,
    private readonly ahead: number,
  ) {}

  start(): void {
    if (this.started) return;
    this.started = true;
    void (async () => {
      try {
        for await (const page of this.source) {
          this.buffer.push(page);
          this.wake?.();
          while (this.buffer.length >= this.ahead) await new Promise<void>((r) => (this.space = r));
        }
      } catch (err) {
        this.error = err;
      }
      this.done = true;
      this.wake?.();
    })();
  }

  async *pages(): AsyncGenerator<ListedObject[]> {
    this.start();
    for (;;) {
      if (this.buffer.length) {
        yield this.buffer.shift()!;
        this.space?.();
        continue;
      }
      if (this.error) throw this.error;
      if (this.done) return;
      await new Promise<void>((r) => (this.wake = r));
    }
  }
}

/**
 * Splits the listing of `prefix` with '/' delimiters, `depth` levels down: the sub-prefixes to list, and
 * the objects lying beside them, in key order. A sub-prefix with nothing below it at a level is listed whole.
 */
export async function discoverPrefixes(
  s3: S3Client,
  bucket: string,
  prefix: string,
  depth: number,
): Promise<ListingUnit[]> {
  let level: ListingUnit[] = [{ prefix }];
  for (let d = 0; d < depth; d++) {
    const next: ListingUnit[] = [];
    for (const unit of level) {
      if (!('prefix' in unit)) {
        next.push(unit);
        continue;
      }
      const found: ListingUnit[] = [];
      let token: string | undefined;
      do {
        const page = await s3.send(
          new ListObjectsV2Command({
            Bucket: bucket,
            Prefix: unit.prefix || undefined,
            Delimiter: '/',
            ContinuationToken: token,
          }),
        );
        for (const c of page.CommonPrefixes ?? []) if (c.Prefix) found.push({ prefix: c.Prefix });
        for (const o of page.Contents ?? [])
          if (o.Key)
            found.push({ object: { key: o.Key, etag: (o.ETag ?? '').replace(/^"|"$/g, ''), size: o.Size ?? 0 } });
        token = page.IsTruncated ? page.NextContinuationToken : undefined;
      } while (token);
      next.push(...(found.length ? found.sort((a, b) => (unitKey(a) < unitKey(b) ? -1 : 1)) : [unit]));
    }
    level = next;
  }
  return level;
}

const unitKey = (u: ListingUnit) => ('prefix' in u ? u.prefix : u.object.key);

/** One line of an input manifest: a key (relative to the source prefix) and optionally its label. Pure. */
export function parseManifestLine(
  line: string,
  lineNo: number,
  name: string,
  source: S3Location,
): { key: string; label?: ClassName } | undefined {
  const text = line.trim();
  if (!text) return undefined;
  const where = `${name} line ${lineNo}`;
  let key: string;
  let label: string | undefined;
  if (text.startsWith('{') || text.startsWith('"')) {
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch {
      throw new UserError(`${where}: not JSON`);
    }
    const obj =
      typeof value === 'string'
        ? { key: value }
        : (value as { key?: unknown; 'source-ref'?: unknown; label?: unknown });
    const ref = obj['source-ref'] ?? obj.key;
    if (typeof ref !== 'string' || !ref)
      throw new UserError(`${where}: expected "key" (or SageMaker's "source-ref") as a string`);
    key = ref;
    label = typeof obj.label === 'string' ? obj.label : undefined;
  } else {
    const cells = text.split(',').map((c) => c.trim().replace(/^"(.*)"$/, '$1'));
    if (lineNo === 1 && cells[0].toLowerCase() === 'key') return undefined; // CSV header
    key = cells[0];
    label = cells[1] || undefined;
  }
  if (key.startsWith('s3://')) {
    const loc = parseS3Uri(key);
    if (loc.bucket !== source.bucket)
      throw new UserError(`${where}: ${key} is not in the run's bucket ${source.bucket} (one bucket per run)`);
    key = loc.prefix;
  } else {
    key = joinKey(source.prefix, key);
  }
  return { key, ...(label ? { label: parseClassName(label, where) } : {}) };
}

/**
 * The keys of an input manifest (s3://…/keys.jsonl: one JSON object {"key"} or {"source-ref"} or string a
 * line; or CSV key[,label] with an optional header), streamed in pages, in the manifest's order. Size and
 * ETag are unknown until the worker reads the object.
 */
export async function* manifestPages(
  s3: S3Client,
  uri: string,
  source: S3Location,
  pageSize = 1000,
  skipItems = 0,
): AsyncGenerator<SourcePage> {
  const loc = parseS3Uri(uri);
  // The resumable reader: a long manifest whose body is cut short goes on where it stopped.
  const body = objectLines(s3, loc.bucket, loc.prefix, {
    missing: (cause) => new UserError(`--manifest ${uri}: no such object`, undefined, { cause }),
  });
  let lineNo = 0;
  let seen = 0;
  let page: (ListedObject & { label?: ClassName })[] = [];
  for await (const line of body) {
    const entry = parseManifestLine(line, ++lineNo, `--manifest ${formatS3Uri(loc)}`, source);
    if (!entry) continue;
    if (seen++ < skipItems) continue;
    page.push({ key: entry.key, etag: '', size: 0, ...(entry.label ? { label: entry.label } : {}) });
    if (page.length >= pageSize) {
      yield splitPage(page);
      page = [];
    }
  }
  if (page.length) yield splitPage(page);
}
