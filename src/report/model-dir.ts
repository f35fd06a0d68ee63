import type { S3Client } from '@aws-sdk/client-s3';
import { defaultModelDir } from '../model/classifier.js';
import { localModelDir } from '../model/io/s3-io.js';
import { resolveModelUri } from '../shared/model-pointer.js';

/** The production model folder: CXR_MODEL_URI (a folder or s3://, cached) or the shipped model. */
export async function productionModelDir(s3: S3Client, given = process.env.CXR_MODEL_URI): Promise<string> {
  const uri = await resolveModelUri(s3, given); // a promoted name (pointer.json) stands for its model folder
  if (!uri) return defaultModelDir();
  return localModelDir(uri, s3);
}
