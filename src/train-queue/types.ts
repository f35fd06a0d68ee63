import type { S3Location } from '../shared/s3/uri.js';
import type { GroupStats } from '../model/train/groups.js';
import type { TrainOptions } from '../model/train/options.js';

/** One training image in S3: key, ETag (also the grouping key: identical bytes, identical ETag) and class index. */
export interface TrainItem {
  key: string;
  etag: string;
  label: number; // index into CLASS_NAMES
  group: string;
}

/** The recipe options that a distributed run uses (the local-folder ones are left out). */
export type TrainRecipe = Omit<TrainOptions, 'data' | 'out' | 'workers' | 'extractOnly' | 'featuresReadyOnly'>;

/** RUNS/RUN_ID/run.json: everything a shard or merge job needs, fixed when the run is created. */
export interface TrainRunSpec {
  runId: string;
  createdAt: string;
  data: S3Location;
  out: S3Location;
  labelsFrom: string;
  shards: number;
  /** Passes over its shard that each shard job makes per round (local SGD steps between averages). */
  localEpochs: number;
  /** Seed of the split, the per-epoch shard shuffle, init and dropout. */
  seed: number;
  recipe: TrainRecipe;
  backboneSha256: string;
  train: TrainItem[];
  val: TrainItem[];
  /** Patients held out of everything (training, checkpoint and threshold selection); absent in older runs. */
  holdout?: TrainItem[];
  /** How the split was grouped by patient (absent in runs created before patient grouping). */
  grouping?: GroupStats;
}

export interface ShardJobData {
  runId: string;
  out: S3Location;
  epoch: number; // 0 = the feature/statistics round, 1.. = training rounds
  shard: number;
  shards: number;
}

export interface MergeJobData {
  runId: string;
  out: S3Location;
  epoch: number;
  shards: number;
}

/** shard-S.json: written after shard-S.bin; the merge checks every field before using the weights. */
export interface ShardResult {
  runId: string;
  epoch: number;
  shard: number;
  shards: number;
  /** Id of the global state this shard started from (epoch - 1), '' for round 0. */
  base: string;
  /** Training vectors in the shard (images x copies). */
  vectors: number;
  /** Vectors processed (vectors x local epochs); the averaging weight. */
  samples: number;
  /** Sum over processed vectors of the (class-weighted) loss, and correct predictions before each step. */
  lossSum: number;
  correct: number;
  seconds: number;
  featureSeconds: number;
  extracted: number;
  host: string;
  pid: number;
  finishedAt: string;
}

export type { HistoryEntry } from '../model/train/history.js';

/** RUNS/RUN_ID/status.json */
export interface RunStatusDoc {
  runId: string;
  status: 'running' | 'done';
  lastEpoch: number;
  bestEpoch: number | null;
  stoppedEarly: boolean;
  updatedAt: string;
}
