import type { ClassName } from '../labels.js';
import type { S3Location } from '../s3/uri.js';

export interface RunItem {
  key: string;
  etag: string;
  size: number;
  label?: ClassName;
}

/** The input manifest: every key of the run, fixed when the run is created. */
export interface RunManifest {
  runId: string;
  createdAt: string;
  source: S3Location;
  out: S3Location;
  batchSize: number;
  labelsFrom: 'key-folders' | string;
  items: RunItem[];
}

export interface BatchJobData {
  runId: string;
  batch: number;
  source: S3Location;
  out: S3Location;
  items: RunItem[];
}

export interface FinalizeJobData {
  runId: string;
  out: S3Location;
  /** Number of batches the run had when this finalize was scheduled (grows on resume). */
  generation: number;
}

export interface PredictionLine {
  type: 'prediction';
  key: string;
  etag: string;
  label: ClassName;
  probability: number;
  threshold: number;
  modelId: string;
  modelName: string;
  modelVersion: string;
  trueLabel?: ClassName;
  timings: { downloadMs: number; decodeMs: number; inferenceMs: number };
}

export interface FailureLine {
  type: 'failure';
  key: string;
  etag: string;
  stage: 'download' | 'decode' | 'inference';
  reason: string;
  trueLabel?: ClassName;
}

export type PartLine = PredictionLine | FailureLine;

/** Per-batch stage totals, stored beside each part. */
export interface PartMeta {
  runId: string;
  batch: number;
  images: number;
  scored: number;
  failed: number;
  stageMs: StageMs;
  backend: string;
  host: string;
  pid: number;
  startedAt: string;
  finishedAt: string;
}

export interface StageMs {
  download: number;
  decode: number;
  inference: number;
  upload: number;
}
