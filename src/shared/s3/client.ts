import { S3Client, type S3ClientConfig } from '@aws-sdk/client-s3';
import type { S3Settings } from '../config.js';
import { nameEndpoint } from './failure.js';
import { encryptWrites } from './sse.js';

/**
 * Credentials come from the AWS SDK's default chain (env, profile, instance role) unless given. With
 * `settings.sse` every object the client writes is encrypted at rest (see sse.ts).
 */
export function createS3Client(settings: S3Settings, credentials?: S3ClientConfig['credentials']): S3Client {
  const client = new S3Client({
    credentials,
    region: settings.region,
    endpoint: settings.endpoint,
    forcePathStyle: settings.forcePathStyle,
    // Flexible checksums break several S3-compatible servers; send them only when an API requires one.
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    maxAttempts: 4,
  });
  if (settings.sse) encryptWrites(client, settings.sse);
  nameEndpoint(client, settings);
  return client;
}
