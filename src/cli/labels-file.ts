import type { S3Client } from '@aws-sdk/client-s3';
import { readFile } from 'node:fs/promises';
import { UserError } from '../shared/errors.js';
import { parseLabelsWithGroups, type LabelsFile } from '../shared/labels.js';
import { getTextIfExists } from '../shared/s3/objects.js';
import { parseS3Uri } from '../shared/s3/uri.js';

/** The text of a labels file given by --labels: a local path or s3://BUCKET/KEY. */
export async function readLabelsText(s3: S3Client, where: string): Promise<string> {
  if (!where.startsWith('s3://')) {
    return readFile(where, 'utf8').catch((err: NodeJS.ErrnoException) => {
      throw new UserError(`--labels ${where}: ${err.code === 'ENOENT' ? 'no such file' : err.message}`);
    });
  }
  const loc = parseS3Uri(where);
  const text = await getTextIfExists(s3, loc.bucket, loc.prefix);
  if (text === undefined) throw new UserError(`--labels ${where}: no such object`);
  return text;
}

/** --labels FILE read and parsed (classes and optional groups), with where it came from. */
export async function loadLabelsFile(s3: S3Client, where: string): Promise<LabelsFile & { from: string }> {
  return { ...parseLabelsWithGroups(await readLabelsText(s3, where), where), from: where };
}
