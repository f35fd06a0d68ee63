import type { S3Client } from '@aws-sdk/client-s3';
import { getTextIfExists } from '../shared/s3/objects.js';
import { objectLines } from '../shared/s3/object-lines.js';
import type { S3Location } from '../shared/s3/uri.js';
import { runLayout } from './layout.js';
import { readManifest } from './run-record.js';
import type { RunMetrics } from './run-metrics.js';
import { ScoreArray } from './tally.js';
import type { PredictionLine } from './types.js';

/** A finalized run's metrics and where its images are. */
export interface RunInfo {
  metrics: RunMetrics;
  source: S3Location;
}

/** The run's scores by true class, each sorted ascending: 4 bytes a prediction and nothing else per key. */
export interface RunScores {
  pneumonia: Float32Array;
  normal: Float32Array;
  unlabelled: Float32Array;
}

/** A finalized run as reports, evaluations and calibration read it: metrics, source and the scores. */
export interface RunData extends RunInfo {
  scores: RunScores;
}

export async function readRunInfo(s3: S3Client, out: S3Location, runId: string): Promise<RunInfo> {
  const layout = runLayout(out, runId);
  const [metricsText, manifest] = await Promise.all([
    getTextIfExists(s3, layout.bucket, layout.metrics),
    readManifest(s3, out, runId),
  ]);
  if (!metricsText) throw new Error(`run ${runId}: no metrics.json (not finalized yet?)`);
  return { metrics: JSON.parse(metricsText) as RunMetrics, source: manifest.source };
}

/**
 * The run's predictions.jsonl, a line at a time (nothing when the file is missing). The finalize wrote it,
 * so a line that is not a prediction with a finite probability is a broken file: it fails with its place.
 */
export async function* streamPredictions(s3: S3Client, out: S3Location, runId: string): AsyncGenerator<PredictionLine> {
  const layout = runLayout(out, runId);
  let n = 0;
  for await (const line of objectLines(s3, layout.bucket, layout.predictionsJsonl)) {
    n++;
    if (line) yield parsePrediction(line, () => `s3://${layout.bucket}/${layout.predictionsJsonl} line ${n}`);
  }
}

function parsePrediction(line: string, where: () => string): PredictionLine {
  let p: PredictionLine;
  try {
    p = JSON.parse(line) as PredictionLine;
  } catch (cause) {
    throw new Error(`${where()}: not JSON (${(cause as Error).message})`, { cause });
  }
  if (!Number.isFinite(p?.probability)) throw new Error(`${where()}: no finite probability`);
  return p;
}

/**
 * Reads the run's metrics, then streams its predictions once into the score arrays (sized from the
 * metrics' counts), showing each prediction to `visit` on the way (report samples, histograms).
 */
export async function readRunData(
  s3: S3Client,
  out: S3Location,
  runId: string,
  visit?: (p: PredictionLine) => void,
): Promise<RunData> {
  const info = await readRunInfo(s3, out, runId);
  const { counts, classification } = info.metrics;
  const c = classification?.confusion;
  const pneumonia = new ScoreArray(c ? c.tp + c.fn : 0);
  const normal = new ScoreArray(c ? c.tn + c.fp : 0);
  const unlabelled = new ScoreArray(counts.scored - counts.labelled);
  for await (const p of streamPredictions(s3, out, runId)) {
    (p.trueLabel === undefined ? unlabelled : p.trueLabel === 'PNEUMONIA' ? pneumonia : normal).push(p.probability);
    visit?.(p);
  }
  return {
    ...info,
    scores: { pneumonia: pneumonia.sorted(), normal: normal.sorted(), unlabelled: unlabelled.sorted() },
  };
}

/** Every score of the run (labelled or not), by class, in a new array. Pure. */
export function allScores(s: RunScores): Float32Array {
  const all = new Float32Array(s.pneumonia.length + s.normal.length + s.unlabelled.length);
  all.set(s.pneumonia);
  all.set(s.normal, s.pneumonia.length);
  all.set(s.unlabelled, s.pneumonia.length + s.normal.length);
  return all;
}
