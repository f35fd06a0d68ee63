import { once } from 'node:events';
import { PassThrough } from 'node:stream';
import type { S3Client } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';

/** A text object written as a stream: buffered into chunks, sent as a multipart upload (one PUT when small). */
export interface UploadStream {
  write(text: string): Promise<void>;
  /** Ends the object and waits until S3 has it. */
  end(): Promise<void>;
}

const CHUNK = 256 * 1024;

/** Opens a multipart upload (@aws-sdk/lib-storage) of 8 MiB parts, two in flight: memory stays at a few parts whatever the object's size. */
export function openUploadStream(s3: S3Client, bucket: string, key: string, contentType: string): UploadStream {
  const body = new PassThrough();
  const upload = new Upload({
    client: s3,
    params: { Bucket: bucket, Key: key, Body: body, ContentType: contentType },
    partSize: 8 * 1024 * 1024,
    queueSize: 2,
  });
  const done = upload.done();
  let failed: unknown;
  done.catch((err) => {
    failed = err;
    body.destroy();
  });
  let pending: string[] = [];
  let size = 0;
  const push = async () => {
    if (failed) throw failed;
    const chunk = pending.join('');
    pending = [];
    size = 0;
    if (!body.write(chunk)) await Promise.race([once(body, 'drain'), done]);
    if (failed) throw failed;
  };
  return {
    async write(text) {
      pending.push(text);
      size += text.length;
      if (size >= CHUNK) await push();
    },
    async end() {
      if (size) await push();
      body.end();
      await done;
    },
  };
}
