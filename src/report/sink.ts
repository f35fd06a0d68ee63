import type { S3Client } from '@aws-sdk/client-s3';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { putObject } from '../shared/s3/objects.js';
import { joinKey } from '../shared/s3/uri.js';

/** Where a report's files go: an S3 prefix or a local folder. */
export interface ReportSink {
  /** Human-readable location of `name`. */
  where(name: string): string;
  put(name: string, body: string | Buffer, contentType: string): Promise<void>;
}

export function s3Sink(s3: S3Client, bucket: string, prefix: string): ReportSink {
  return {
    where: (name) => `s3://${bucket}/${joinKey(prefix, name)}`,
    put: (name, body, type) => putObject(s3, bucket, joinKey(prefix, name), body, type),
  };
}

export function fsSink(dir: string): ReportSink {
  return {
    where: (name) => path.join(dir, name),
    async put(name, body) {
      const file = path.join(dir, name);
      await mkdir(path.dirname(file), { recursive: true });
      await writeFile(file, body);
    },
  };
}
