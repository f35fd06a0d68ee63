import type { BinaryMetrics } from '../shared/metrics.js';
import type { S3Location } from '../shared/s3/uri.js';
import type { ScoreSummary } from './drift.js';

export const EVAL_QUEUE = 'eval';
export const JOB_EVAL = 'eval';

/** Data of every firing of an evaluation schedule (and of `cxr eval run`). */
export interface EvalJobData {
  name: string;
  data: string;
  out: string;
  /** Allowed drop in sensitivity, specificity or AUC before alerting. */
  margin: number;
  /** Allowed PSI / KS of the score distribution before alerting. */
  psiLimit: number;
  ksLimit: number;
  webhook?: string;
  /** A history entry or metrics.json, local path or s3:// URI. */
  baseline?: string;
  batchSize: number;
  /** Time zone of the firing date (the schedule's). */
  tz?: string;
}

/** One line of EVALS/history.jsonl. */
export interface HistoryEntry {
  date: string;
  name: string;
  runId: string;
  evaluatedAt: string;
  model: { id: string; name: string; version: string; threshold: number } | null;
  metrics: BinaryMetrics;
  scores: ScoreSummary;
  alerts: Alert[];
}

export interface Alert {
  kind: 'metric-drop' | 'distribution-shift';
  against: 'previous' | 'baseline';
  metric: string;
  value: number;
  reference: number;
  limit: number;
  message: string;
}

export interface EvalPaths {
  out: S3Location;
  date: string;
}
