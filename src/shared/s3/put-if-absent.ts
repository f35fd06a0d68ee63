import { createHash } from 'node:crypto';
import { PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { getCompleteIfExists } from './objects.js';
import { joinKey } from './uri.js';

/** A first-writer-wins lock outside S3 (Redis SET NX), used when the store ignores `If-None-Match`. */
export interface Claims {
  /** True when this caller now holds the claim (it expires after ttlMs unless settled). */
  claim(name: string, value: string, ttlMs: number): Promise<boolean>;
  holder(name: string): Promise<string | undefined>;
  /** Makes a held claim permanent with its final value (the object's ETag). */
  settle(name: string, value: string): Promise<void>;
  release(name: string): Promise<void>;
}

export type PutIfAbsentResult = { created: true; etag: string } | { created: false; etag: string; bytes: Uint8Array };

export interface PutIfAbsentOptions {
  /** How long a loser waits for the winner's object, and how long an unwritten claim lives. */
  waitMs?: number;
  /** Where the conditional-write probe object is kept (default: beside the key); callers pass the output prefix. */
  probePrefix?: string;
}

const status = (err: unknown) => (err as { $metadata?: { httpStatusCode?: number } })?.$metadata?.httpStatusCode;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const etagOf = (etag: string | undefined) => (etag ?? '').replace(/^"|"$/g, '');

function putCommand(bucket: string, key: string, body: Uint8Array, contentType: string, ifNoneMatch: boolean) {
  return new PutObjectCommand({
    Bucket: bucket,
    Key: key,
    Body: body,
    ContentLength: body.byteLength,
    ContentType: contentType,
    ...(ifNoneMatch ? { IfNoneMatch: '*' } : {}),
  });
}

const support = new WeakMap<S3Client, Map<string, Promise<boolean>>>();

/**
 * Whether the store honours `If-None-Match: *` on PUT (AWS S3 and MinIO do; s3rver 3.7 ignores it): writes
 * a probe object under `prefix` twice and sees whether a write is refused. The probe stays (deleting it
 * while another process probes would race). Cached per bucket.
 */
export function conditionalWrites(s3: S3Client, bucket: string, prefix: string): Promise<boolean> {
  const byBucket = support.get(s3) ?? new Map<string, Promise<boolean>>();
  support.set(s3, byBucket);
  let p = byBucket.get(bucket);
  if (!p) {
    p = (async () => {
      const key = joinKey(prefix, PROBE_NAME);
      const body = Buffer.from('cxr conditional-write probe\n');
      for (let i = 0; i < 2; i++) {
        try {
          await s3.send(putCommand(bucket, key, body, 'text/plain', true));
        } catch (err) {
          // 412: it exists and the write was refused; 409: a concurrent conditional write. Only a store that honours the header says either.
          if (status(err) === 412 || status(err) === 409) return true;
          throw err;
        }
      }
      return false;
    })();
    p.catch(() => byBucket.delete(bucket));
    byBucket.set(bucket, p);
  }
  return p;
}

/** The probe object's name, left beside the objects written with `putIfAbsent`. */
export const PROBE_NAME = '.cxr-conditional-write-probe';

const existing = (s3: S3Client, bucket: string, key: string) => getCompleteIfExists(s3, bucket, key);

/**
 * Writes an object only if none exists, so that of several writers exactly one wins and the others read
 * the winner's object. Uses a conditional PUT (`If-None-Match: *`) where the store supports it; else a
 * Redis SET NX claim decides, taken before the PUT so a loser never overwrites the winner.
 */
export async function putIfAbsent(
  s3: S3Client,
  claims: Claims,
  bucket: string,
  key: string,
  body: Uint8Array,
  contentType: string,
  opts: PutIfAbsentOptions = {},
): Promise<PutIfAbsentResult> {
  const waitMs = opts.waitMs ?? 120_000;
  /** The winner's object once it exists; undefined when `lapsed` says the winner gave up. */
  const winner = async (lapsed?: () => Promise<boolean>): Promise<PutIfAbsentResult | undefined> => {
    const deadline = Date.now() + waitMs;
    for (;;) {
      const found = await existing(s3, bucket, key);
      if (found) return { created: false, ...found };
      if (lapsed && (await lapsed())) return undefined;
      if (Date.now() > deadline)
        throw new Error(
          `s3://${bucket}/${key}: another writer claimed it but has not written it in ${Math.round(waitMs / 1000)} s`,
        );
      await sleep(200);
    }
  };

  if (await conditionalWrites(s3, bucket, opts.probePrefix ?? key.replace(/[^/]*$/, ''))) {
    for (let attempt = 0; ; attempt++) {
      try {
        const res = await s3.send(putCommand(bucket, key, body, contentType, true));
        return { created: true, etag: etagOf(res.ETag) };
      } catch (err) {
        if (status(err) === 412) return (await winner())!;
        // 409 ConditionalRequestConflict: a concurrent conditional write is in flight; AWS asks to retry.
        if (status(err) !== 409 || attempt >= 5) throw err;
        await sleep(100 * 2 ** attempt);
      }
    }
  }

  const name = `${bucket}/${key}`;
  for (;;) {
    const before = await existing(s3, bucket, key);
    if (before) return { created: false, ...before };
    const md5 = createHash('md5').update(body).digest('hex');
    if (!(await claims.claim(name, md5, waitMs))) {
      // Lost: wait for the winner's object, unless its claim lapses unwritten (then try again).
      const won = await winner(async () => (await claims.holder(name)) === undefined);
      if (won) return won;
      continue;
    }
    // An object written under a claim Redis has since lost must not be overwritten.
    const raced = await existing(s3, bucket, key);
    if (raced) {
      await claims.settle(name, raced.etag);
      return { created: false, ...raced };
    }
    try {
      const res = await s3.send(putCommand(bucket, key, body, contentType, false));
      const etag = etagOf(res.ETag) || md5;
      await claims.settle(name, etag);
      return { created: true, etag };
    } catch (err) {
      await claims.release(name);
      throw err;
    }
  }
}
