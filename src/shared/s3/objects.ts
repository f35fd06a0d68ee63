import { createHash } from 'node:crypto';
import { GetObjectCommand, ListObjectsV2Command, NoSuchKey, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';

export interface ListedObject {
  key: string;
  etag: string;
  size: number;
}

/** Every object under a prefix, across all ListObjectsV2 pages, passed through `keep`. */
export async function listObjects(
  s3: S3Client,
  bucket: string,
  prefix: string,
  keep: (key: string) => boolean = () => true,
  onPage?: (count: number) => void,
): Promise<ListedObject[]> {
  const out: ListedObject[] = [];
  for await (const page of listPages(s3, bucket, prefix)) {
    for (const o of page) if (keep(o.key)) out.push(o);
    onPage?.(out.length);
  }
  return out;
}

/** The objects under a prefix one ListObjectsV2 page at a time, in S3's key order, after `startAfter` when given. */
export async function* listPages(
  s3: S3Client,
  bucket: string,
  prefix: string,
  startAfter?: string,
): AsyncGenerator<ListedObject[]> {
  let token: string | undefined;
  do {
    const page = await s3.send(
      new ListObjectsV2Command({
        Bucket: bucket,
        Prefix: prefix || undefined,
        ContinuationToken: token,
        StartAfter: token ? undefined : startAfter,
      }),
    );
    yield (page.Contents ?? []).flatMap((o) =>
      o.Key ? [{ key: o.Key, etag: stripQuotes(o.ETag), size: o.Size ?? 0 }] : [],
    );
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token);
}

/**
 * The object's bytes. The SDK retries a request, not its body: a body cut short (the connection dropped, or
 * s3rver served a file a PUT was rewriting) is requested again, up to `attempts` reads in all.
 */
export async function getObjectBytes(
  s3: S3Client,
  bucket: string,
  key: string,
  attempts = 3,
): Promise<{ bytes: Uint8Array; etag: string }> {
  for (let attempt = 1; ; attempt++) {
    const res = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
    const etag = stripQuotes(res.ETag);
    if (!res.Body) return { bytes: new Uint8Array(0), etag };
    try {
      return { bytes: await res.Body.transformToByteArray(), etag };
    } catch (err) {
      if (attempt >= attempts || !isCutShort(err)) throw err;
      await new Promise((r) => setTimeout(r, 100 * attempt));
    }
  }
}

/** True for a response body that ended before its Content-Length. */
export function isCutShort(err: unknown): boolean {
  const e = err as { message?: string; code?: string } | undefined;
  return e?.message === 'aborted' || e?.code === 'ECONNRESET' || e?.code === 'ERR_STREAM_PREMATURE_CLOSE';
}

/**
 * The object once it is whole: some S3-compatible servers (s3rver) serve a file while a PUT is still
 * writing it. For a single-part object the ETag is the body's MD5, so a read whose bytes do not match it
 * is retried (up to `waitMs`); undefined when there is no object.
 */
export async function getCompleteIfExists(
  s3: S3Client,
  bucket: string,
  key: string,
  waitMs = 30_000,
): Promise<{ bytes: Uint8Array; etag: string } | undefined> {
  const deadline = Date.now() + waitMs;
  for (;;) {
    let got: { bytes: Uint8Array; etag: string };
    try {
      got = await getObjectBytes(s3, bucket, key);
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
    if (
      !/^[0-9a-f]{32}$/.test(got.etag) ||
      createHash('md5').update(got.bytes).digest('hex') === got.etag ||
      Date.now() > deadline
    )
      return got;
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** True for the errors S3 and S3-compatible servers give for a missing object. */
export function isNotFound(err: unknown): boolean {
  const e = err as { name?: string; $metadata?: { httpStatusCode?: number } } | undefined;
  return (
    err instanceof NoSuchKey ||
    e?.name === 'NoSuchKey' ||
    e?.name === 'NotFound' ||
    e?.$metadata?.httpStatusCode === 404
  );
}

/** The object's bytes, or undefined when it does not exist. */
export async function getBytesIfExists(s3: S3Client, bucket: string, key: string): Promise<Uint8Array | undefined> {
  try {
    return (await getObjectBytes(s3, bucket, key)).bytes;
  } catch (err) {
    if (isNotFound(err)) return undefined;
    throw err;
  }
}

/** The object's text, or undefined when it does not exist. */
export async function getTextIfExists(s3: S3Client, bucket: string, key: string): Promise<string | undefined> {
  const bytes = await getBytesIfExists(s3, bucket, key);
  return bytes === undefined ? undefined : Buffer.from(bytes).toString('utf8');
}

/** The object parsed as JSON, or undefined when it does not exist. */
export async function getJsonIfExists<T>(s3: S3Client, bucket: string, key: string): Promise<T | undefined> {
  const text = await getTextIfExists(s3, bucket, key);
  return text === undefined ? undefined : (JSON.parse(text) as T);
}

export async function putObject(
  s3: S3Client,
  bucket: string,
  key: string,
  body: string | Uint8Array,
  contentType: string,
): Promise<void> {
  await putObjectEtag(s3, bucket, key, body, contentType);
}

/** Writes the object; resolves to its ETag. */
export async function putObjectEtag(
  s3: S3Client,
  bucket: string,
  key: string,
  body: string | Uint8Array,
  contentType: string,
): Promise<string> {
  // A Buffer has a known length (an empty string does not, to the SDK).
  const bytes = typeof body === 'string' ? Buffer.from(body, 'utf8') : body;
  const res = await s3.send(
    new PutObjectCommand({
      Bucket: bucket,
      Key: key,
      Body: bytes,
      ContentLength: bytes.byteLength,
      ContentType: contentType,
    }),
  );
  return stripQuotes(res.ETag);
}

export function putJson(s3: S3Client, bucket: string, key: string, value: unknown): Promise<void> {
  return putObject(s3, bucket, key, JSON.stringify(value, null, 2) + '\n', 'application/json');
}

function stripQuotes(etag: string | undefined): string {
  return (etag ?? '').replace(/^"|"$/g, '');
}
