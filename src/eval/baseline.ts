import { readFile } from 'node:fs/promises';
import type { S3Client } from '@aws-sdk/client-s3';
import type { BinaryMetrics } from '../shared/metrics.js';
import { getTextIfExists } from '../shared/s3/objects.js';
import { parseS3Uri } from '../shared/s3/uri.js';
import type { Reference } from './alert.js';
import type { ScoreSummary } from './drift.js';

/**
 * A baseline is a history entry ({metrics, scores}), a run's metrics.json ({classification}) or an
 * evaluation's metrics.json; returns what can be compared. Pure.
 */
export function referenceFrom(value: unknown, where: string): Reference {
  const v = value as {
    metrics?: Partial<BinaryMetrics>;
    classification?: Partial<BinaryMetrics> | null;
    scores?: ScoreSummary;
  };
  const m = v.metrics && typeof v.metrics.recall === 'number' ? v.metrics : v.classification;
  if (!m || typeof m.recall !== 'number' || typeof m.specificity !== 'number') {
    throw new Error(
      `baseline ${where}: expected {metrics: {recall, specificity, rocAuc}} or a metrics.json with classification`,
    );
  }
  return {
    metrics: { recall: m.recall, specificity: m.specificity, rocAuc: typeof m.rocAuc === 'number' ? m.rocAuc : null },
    scores: Array.isArray(v.scores?.histogram) ? v.scores : undefined,
  };
}

/** Reads a baseline from a local file or s3:// URI. */
export async function loadBaseline(s3: S3Client, where: string): Promise<Reference> {
  let text: string | undefined;
  if (where.startsWith('s3://')) {
    const loc = parseS3Uri(where);
    text = await getTextIfExists(s3, loc.bucket, loc.prefix);
    if (text === undefined) throw new Error(`baseline ${where} does not exist`);
  } else {
    text = await readFile(where, 'utf8');
  }
  return referenceFrom(JSON.parse(text), where);
}
