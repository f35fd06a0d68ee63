import type { ClassName } from '../shared/labels.js';
import type { S3Location } from '../shared/s3/uri.js';
import type { RunStatus } from './state.js';

export interface RunItem {
  key: string;
  etag: string;
  size: number;
  label?: ClassName;
}

export type { SkippedObject } from '../shared/s3/list-images.js';

/**
 * The run header (run.json), written put-if-absent before any listing: the producer whose header wins
 * owns the run. Keys are laid out in manifest shards of `batchesPerShard` batches each.
 */
export interface RunHeader {
  runId: string;
  createdAt: string;
  source: S3Location;
  /** The input manifest (s3://…/keys.jsonl or .csv) the keys came from; absent for a listing of `source`. */
  input?: string;
  out: S3Location;
  batchSize: number;
  batchesPerShard: number;
  labelsFrom: 'key-folders' | string;
  /** --skip-flagged: a flagged image (lateral view, not chest, out of distribution...) fails instead of being scored. */
  skipFlagged?: boolean;
}

/** One manifest shard: JSONL of RunItems (batch firstBatch+i holds lines [i*batchSize, (i+1)*batchSize)). */
export interface ShardEntry {
  shard: number;
  key: string;
  items: number;
  firstBatch: number;
  batches: number;
  /** Objects not scored seen with this shard's keys, in `skippedKey` when > 0. */
  skipped: number;
  skippedKey?: string;
  lastKey: string;
}

/** The input manifest's index (manifest.json), written last: the header plus every shard. Batch b lies in shard floor(b / batchesPerShard). */
export interface RunManifest extends RunHeader {
  totalKeys: number;
  totalBatches: number;
  skipped: number;
  shards: ShardEntry[];
}

/** One line of a generation plan shard: a batch it re-runs, with only its keys that had no prediction. */
export interface PlanLine {
  batch: number;
  items: RunItem[];
}

/**
 * A later attempt generation (written by resume or repair before its jobs are enqueued): the batches it
 * re-runs. Its keys lie in plan shards aligned with the manifest shards (`${shardsPrefix}NNNNNN.jsonl`, one
 * PlanLine a batch); this index (generations/NNNNNN.json, put-if-absent after its shards) holds no keys.
 * A batch's current generation is the latest plan naming it, else 0 (the manifest).
 */
export interface GenerationPlan {
  runId: string;
  generation: number;
  createdAt: string;
  reason: 'resume' | 'repair';
  batchCount: number;
  keyCount: number;
  /** Manifest shards with a planned batch, ascending; each has a plan shard. */
  shards: number[];
  shardsPrefix: string;
  /** Bitmap of the planned batches (bit b & 7 of byte b >> 3), base64. */
  batchBits: string;
  /** A plan written by the previous version (one document with every key): its lines, read with it. */
  inline?: PlanLine[];
}

/** The previous version's generations/NNNNNN.json: every planned batch with its keys in one document. */
export interface LegacyGenerationPlan {
  runId: string;
  generation: number;
  createdAt: string;
  reason: GenerationPlan['reason'];
  batches: PlanLine[];
}

export interface BatchJobData {
  runId: string;
  batch: number;
  /** Attempt generation; absent means 0. */
  generation?: number;
  source: S3Location;
  out: S3Location;
  /** From the manifest: flagged images become failures (stage 'flagged'). */
  skipFlagged?: boolean;
  /** Generation 0: the keys are lines [start, end) of this manifest shard (read by the worker, cached). */
  shard?: BatchShardRange;
  /** Later generations: the plan shard (an object key) whose line for this batch gives its keys. */
  planShard?: string;
  /** Later generations of a plan written by the previous version (or a job enqueued by it): the keys. */
  items?: RunItem[];
  /** Only these of the batch's keys: a slice split off after the batch's process crashed (isolate.ts). */
  slice?: BatchSlice;
}

/** Keys [start, end) of a batch's keys, in their order. */
export interface BatchSlice {
  start: number;
  end: number;
}

/** How a sandboxed process died under its job: by a signal, or with a non-zero exit code. */
export interface ProcessCrash {
  signal?: string;
  code?: number;
}

export interface BatchShardRange {
  key: string;
  start: number;
  end: number;
}

/** Records a batch that used up its attempts: its keys become failures with this reason. */
export interface SettleJobData extends BatchJobData {
  reason: string;
  /** The last attempt's process crashed: a batch or slice of several keys is split instead (isolate.ts). */
  crash?: ProcessCrash;
  /** Attempts the job made. */
  attempts?: number;
}

export interface FinalizeJobData {
  runId: string;
  out: S3Location;
  /** The run's generation when this finalize was scheduled. */
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
  /** DICOM: Study, Series and SOP Instance UIDs, to join back to the PACS (never patient attributes). */
  uids?: { study?: string; series?: string; sop?: string };
  /** Why the score may not apply: 'lateral view', 'body part X (not CHEST)', 'modality X (not CR/DX)', 'out of distribution'; 'in-training-set' when the model saw the image (data-hashes.bin). */
  flags?: string[];
  /** Mahalanobis distance of the pooled backbone features from the training features (absent when the model ships no OOD stats). */
  ood?: number;
  /** Multi-frame DICOM: frames in the object; the first was scored. */
  frames?: number;
}

export interface FailureLine {
  type: 'failure';
  key: string;
  etag: string;
  /** 'batch': the whole batch failed (attempts used up, or the run failed) and each key carries its reason. */
  stage: 'download' | 'decode' | 'inference' | 'batch' | 'flagged';
  reason: string;
  trueLabel?: ClassName;
}

export type PartLine = PredictionLine | FailureLine;

/** Per-batch stage totals, stored beside each part. */
export interface PartMeta {
  runId: string;
  batch: number;
  generation: number;
  images: number;
  scored: number;
  failed: number;
  stageMs: StageMs;
  /**
   * CPU milliseconds of the scoring process in each stage (user + system, every thread: sharp's decode and ONNX
   * Runtime's pool included). Recorded by a process that scores one batch at a time (a sandboxed slot), where that
   * CPU is the batch's own; absent where slots share the process (--inference shared).
   */
  stageCpuMs?: StageMs;
  backend: string;
  host: string;
  pid: number;
  startedAt: string;
  finishedAt: string;
  /** Time this batch's process spent loading the model before it (its sandbox's first batch); absent when warm. */
  coldStartMs?: number;
  /** A batch split after its process crashed (isolate.ts): its splits, and its jobs' attempts beyond the one. */
  isolation?: { splits: number; extraAttempts: number };
}

export interface StageMs {
  download: number;
  decode: number;
  inference: number;
  upload: number;
}

export type { RunStatus };
