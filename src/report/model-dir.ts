import type { S3Client } from '@aws-sdk/client-s3';
import { defaultModelDir, defaultS3ModelCache } from '../model/classifier.js';
import { cachedS3Model } from '../model/io/s3-io.js';

/** The production model folder: CXR_MODEL_URI (a folder or s3://, cached) or the shipped model. */
export async function productionModelDir(s3: S3Client, uri = process.env.CXR_MODEL_URI): Promise<string> {
  if (!uri) return defaultModelDir();
  return uri.startsWith('s3://') ? cachedS3Model(s3, uri, defaultS3ModelCache()) : uri;
}
