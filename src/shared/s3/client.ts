import { S3Client, type S3ClientConfig } from '@aws-sdk/client-s3';
import type { S3Settings } from '../config.js';

/** Credentials come from the AWS SDK's default chain (env, profile, instance role) unless given. */
export function createS3Client(settings: S3Settings, credentials?: S3ClientConfig['credentials']): S3Client {
  return new S3Client({
    credentials,
    region: settings.region,
    endpoint: settings.endpoint,
    forcePathStyle: settings.forcePathStyle,
    // Flexible checksums break several S3-compatible servers; send them only when an API requires one.
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    maxAttempts: 4,
  });
}
