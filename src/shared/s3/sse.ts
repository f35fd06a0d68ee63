import type { S3Client } from '@aws-sdk/client-s3';

/**
 * Server-side encryption of the objects the pipeline writes, as the fields a PutObject, CreateMultipartUpload
 * or CopyObject input takes: spread it into one (`{ ...sse, Bucket, Key }`), or let the client apply it.
 */
export interface SseSettings {
  ServerSideEncryption: 'AES256' | 'aws:kms';
  /** A KMS key id or ARN; without it S3 uses the account's default aws/s3 key. */
  SSEKMSKeyId?: string;
}

/** The commands that create objects; UploadPart inherits its upload's encryption. */
export const OBJECT_WRITES: ReadonlySet<string> = new Set([
  'PutObjectCommand',
  'CreateMultipartUploadCommand',
  'CopyObjectCommand',
]);

/**
 * Makes every object write through `client` carry `sse` (fields a caller set itself win), so that every
 * writer of the process, whichever helper or library it calls (lib-storage's Upload too), encrypts alike.
 */
export function encryptWrites(client: S3Client, sse: SseSettings): void {
  client.middlewareStack.add(
    (next, context) => (args) => {
      if (OBJECT_WRITES.has(context.commandName ?? '')) args.input = { ...sse, ...args.input } as typeof args.input;
      return next(args);
    },
    { step: 'initialize', name: 'cxrServerSideEncryption' },
  );
}
