import type { Readable } from 'node:stream';
import { StringDecoder } from 'node:string_decoder';
import { GetObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { isCutShort, isNotFound } from './objects.js';

/**
 * The lines of a stream, pulled a chunk at a time so the stream waits while the reader is busy
 * (readline's iterator reads ahead without bound). A trailing '\r' is dropped.
 */
export async function* lines(stream: AsyncIterable<Buffer | string>): AsyncGenerator<string> {
  const decoder = new StringDecoder('utf8'); // a character split across chunks stays whole
  let rest = '';
  for await (const chunk of stream) {
    const text = rest + (typeof chunk === 'string' ? chunk : decoder.write(chunk));
    const parts = text.split('\n');
    rest = parts.pop()!;
    for (const p of parts) yield p.endsWith('\r') ? p.slice(0, -1) : p;
  }
  if (rest) yield rest.endsWith('\r') ? rest.slice(0, -1) : rest;
}

/** What to throw when the object is not there; by default a missing object has no lines. */
export interface ReadOptions {
  missing?: (cause: unknown) => Error;
}

/** The lines of an S3 object, streamed from its GetObject body (resumed when cut short, see objectChunks). */
export async function* objectLines(
  s3: S3Client,
  bucket: string,
  key: string,
  opts: ReadOptions = {},
): AsyncGenerator<string> {
  yield* lines(objectChunks(s3, bucket, key, 3, opts));
}

/**
 * An object's body a chunk at a time; nothing when there is no object. A body cut short is resumed where it
 * stopped (Range, If-Match on the first read's ETag, so a rewritten object fails rather than mixing versions),
 * up to `attempts` reads in all.
 */
export async function* objectChunks(
  s3: S3Client,
  bucket: string,
  key: string,
  attempts = 3,
  opts: ReadOptions = {},
): AsyncGenerator<Buffer> {
  let offset = 0;
  let etag: string | undefined;
  for (let attempt = 1; ; attempt++) {
    let body: Readable;
    try {
      const res = await s3.send(
        new GetObjectCommand({
          Bucket: bucket,
          Key: key,
          ...(etag ? { Range: `bytes=${offset}-`, IfMatch: etag } : {}),
        }),
      );
      etag ??= res.ETag;
      body = res.Body as Readable;
    } catch (err) {
      if (etag === undefined && isNotFound(err)) {
        if (opts.missing) throw opts.missing(err);
        return;
      }
      throw err;
    }
    try {
      for await (const chunk of body as AsyncIterable<Buffer>) {
        offset += chunk.length;
        yield chunk;
      }
      return;
    } catch (err) {
      if (attempt >= attempts || !isCutShort(err)) throw err;
      await new Promise((r) => setTimeout(r, 100 * attempt));
    }
  }
}
