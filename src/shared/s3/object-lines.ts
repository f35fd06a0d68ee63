import type { Readable } from 'node:stream';
import { StringDecoder } from 'node:string_decoder';
import { GetObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { isNotFound } from './objects.js';

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

/** The lines of an S3 object, streamed from its GetObject body; none when there is no object. */
export async function* objectLines(s3: S3Client, bucket: string, key: string): AsyncGenerator<string> {
  let body: Readable;
  try {
    body = (await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }))).Body as Readable;
  } catch (err) {
    if (isNotFound(err)) return;
    throw err;
  }
  yield* lines(body);
}
