import os from 'node:os';
import type { S3Client } from '@aws-sdk/client-s3';
import pLimit from 'p-limit';
import type { Logger } from '../shared/logger.js';
import { ImageDecodeError } from '../shared/image/decode.js';
import { decodeInput } from '../shared/image/decode-input.js';
import type { DicomInfo } from '../shared/image/dicom/decode-dicom.js';
import { caffePreprocess } from '../model/preprocess.js';
import type { PneumoniaClassifier, Scores } from '../model/classifier.js';
import {
  writePart,
  type BatchJobData,
  type FailureLine,
  type PartLine,
  type PartMeta,
  type PredictionLine,
  type RunItem,
} from '../run/index.js';
import { downloadObject, ObjectReadError } from './download.js';
import type { HashSet } from '../model/hash-set.js';
import { flaggedReason, predictionExtras, skippableFlags } from './prediction-extras.js';

export interface ScoreDeps {
  s3: S3Client;
  classifier: PneumoniaClassifier;
  logger: Logger;
  downloadConcurrency?: number;
  /** Model load time this batch waited for (the sandbox's first batch), recorded in its part meta. */
  coldStartMs?: number;
  /** false: score without downloading or decoding (the null engine's orchestration runs); default true. */
  readImages?: boolean;
  /** The model's training and validation image hashes: a match is flagged in-training-set. */
  trainingSet?: HashSet;
  /** Test-only (CXR_TEST_CRASH_MARKER, see context.ts): decoding an object whose bytes hold these crashes the process. */
  crashMarker?: Buffer;
  /** This process scores one batch at a time (a sandboxed slot): its CPU per stage is the batch's, recorded in the meta. */
  stageCpu?: boolean;
}

export interface BatchResult {
  lines: PartLine[];
  meta: PartMeta;
}

/** An object ready for the model: its pixels and what the prediction line says about it besides the score. */
export interface Decoded {
  item: RunItem;
  etag: string;
  rgb: Uint8Array;
  dicom?: DicomInfo;
  /** The object's bytes are in the model's training set. */
  inTrainingSet?: boolean;
  downloadMs: number;
  decodeMs: number;
}

/** An object's bytes as downloaded. */
export interface Downloaded {
  item: RunItem;
  etag: string;
  bytes: Uint8Array;
  inTrainingSet?: boolean;
  downloadMs: number;
}

/** What the model reads for a batch, with the failures of the objects it could not read and the stage times. */
export interface Inputs {
  decoded: Decoded[];
  failures: FailureLine[];
  downloadMs: number;
  decodeMs: number;
  /** This process's CPU in each stage (every thread; the batch's own where the process scores one batch at a time). */
  downloadCpuMs: number;
  decodeCpuMs: number;
  /** Scores the decoded objects, in order. */
  score(classifier: PneumoniaClassifier): Promise<Scores>;
}

/**
 * Downloads, decodes and scores one batch (or slice of one) as a single tensor, then writes its part
 * (idempotent overwrite); the caller records it with its meta.
 * An unreadable or undecodable object becomes a failure line; S3 or model errors fail the batch for a retry.
 */
export async function scoreBatch(deps: ScoreDeps, job: BatchJobData, items: readonly RunItem[]): Promise<BatchResult> {
  const startedAt = new Date();
  const inputs = deps.readImages === false ? unreadInputs(items) : await readInputs(deps, job, items);
  const { value: scores, ms: inferenceMs, cpuMs: inferenceCpuMs } = await timed(() => inputs.score(deps.classifier));
  const { predictions, failures } = assembleLines(deps.classifier, job, inputs, scores, inferenceMs);
  const lines: PartLine[] = [...predictions, ...failures];
  const { ms: uploadMs, cpuMs: uploadCpuMs } = await timed(() => writePart(deps.s3, job, lines));
  // The meta is written by the part's record (recordPart): beside a whole batch's part, into a slice's record.
  const meta: PartMeta = {
    runId: job.runId,
    batch: job.batch,
    generation: job.generation ?? 0,
    images: items.length,
    scored: predictions.length,
    failed: failures.length,
    stageMs: {
      download: round(inputs.downloadMs),
      decode: round(inputs.decodeMs),
      inference: round(inferenceMs),
      upload: round(uploadMs),
    },
    ...(deps.stageCpu
      ? {
          stageCpuMs: {
            download: round(inputs.downloadCpuMs),
            decode: round(inputs.decodeCpuMs),
            inference: round(inferenceCpuMs),
            upload: round(uploadCpuMs),
          },
        }
      : {}),
    backend: deps.classifier.backend,
    host: os.hostname(),
    pid: process.pid,
    startedAt: startedAt.toISOString(),
    finishedAt: new Date().toISOString(),
    ...(deps.coldStartMs ? { coldStartMs: deps.coldStartMs } : {}),
  };
  return { lines, meta };
}

/** The failure line of one object. Pure. */
export function failureLine(item: RunItem, etag: string, stage: FailureLine['stage'], reason: string): FailureLine {
  return { type: 'failure', key: item.key, etag, stage, reason, ...(item.label ? { trueLabel: item.label } : {}) };
}

/** Downloads and decodes a batch's objects: the model's inputs, and a failure line for each object that has none. */
export async function readInputs(
  deps: Pick<ScoreDeps, 's3' | 'classifier' | 'downloadConcurrency' | 'trainingSet' | 'crashMarker'>,
  job: Pick<BatchJobData, 'source'>,
  items: readonly RunItem[],
): Promise<Inputs> {
  const failures: FailureLine[] = [];
  const download = await timed(() => downloadAll(deps, job.source.bucket, items, failures));
  const decode = await timed(() => decodeAll(deps, download.value, failures));
  return {
    decoded: decode.value,
    failures,
    downloadMs: download.ms,
    decodeMs: decode.ms,
    downloadCpuMs: download.cpuMs,
    decodeCpuMs: decode.cpuMs,
    score: (classifier) => predictAll(classifier, decode.value),
  };
}

/** `step`'s result, its wall time and this process's CPU meanwhile (user + system, every thread), in ms. */
async function timed<T>(step: () => Promise<T>): Promise<{ value: T; ms: number; cpuMs: number }> {
  const t = performance.now();
  const cpu = process.cpuUsage();
  const value = await step();
  const d = process.cpuUsage(cpu);
  return { value, ms: performance.now() - t, cpuMs: (d.user + d.system) / 1000 };
}

/**
 * The null engine's inputs when images are not read (CXR_NULL_IMAGES=skip): every key, no pixels, scored
 * by count alone, so a run's orchestration can be measured without S3 reads or decoding. Pure.
 */
export function unreadInputs(items: readonly RunItem[]): Inputs {
  const blank = new Uint8Array(0);
  const decoded = items.map((item) => ({ item, etag: item.etag, rgb: blank, downloadMs: 0, decodeMs: 0 }));
  return {
    decoded,
    failures: [],
    downloadMs: 0,
    decodeMs: 0,
    downloadCpuMs: 0,
    decodeCpuMs: 0,
    score: async (classifier) => ({ probabilities: await classifier.predict(new Float32Array(0), decoded.length) }),
  };
}

/** Each object's bytes (8 at a time); one that cannot be read for reasons of its own becomes a failure line. */
export async function downloadAll(
  deps: Pick<ScoreDeps, 's3' | 'downloadConcurrency' | 'trainingSet'>,
  bucket: string,
  items: readonly RunItem[],
  failures: FailureLine[],
): Promise<Downloaded[]> {
  const limit = pLimit(deps.downloadConcurrency ?? 8);
  const downloaded = await Promise.all(
    items.map((item) =>
      limit(async (): Promise<Downloaded | undefined> => {
        const t0 = performance.now();
        try {
          const obj = await downloadObject(deps.s3, bucket, item.key);
          return {
            item,
            ...obj,
            downloadMs: performance.now() - t0,
            inTrainingSet: deps.trainingSet?.hasImage(obj.bytes),
          };
        } catch (err) {
          if (!(err instanceof ObjectReadError)) throw err;
          failures.push(failureLine(item, item.etag, 'download', err.reason));
          return undefined;
        }
      }),
    ),
  );
  return downloaded.filter((d) => d !== undefined);
}

/** Each object's pixels at the model's input size (a worker per core); one that does not decode becomes a failure line. */
export async function decodeAll(
  deps: Pick<ScoreDeps, 'classifier' | 'crashMarker'>,
  downloaded: readonly Downloaded[],
  failures: FailureLine[],
): Promise<Decoded[]> {
  const limit = pLimit(Math.max(2, os.availableParallelism()));
  const decoded = await Promise.all(
    downloaded.map((d) =>
      limit(async (): Promise<Decoded | undefined> => {
        if (deps.crashMarker) crashOnMarker(d.bytes, deps.crashMarker);
        const t0 = performance.now();
        try {
          const { rgb, dicom } = await decodeInput(d.bytes, deps.classifier.info.inputSize);
          return {
            item: d.item,
            etag: d.etag,
            rgb,
            dicom,
            inTrainingSet: d.inTrainingSet,
            downloadMs: d.downloadMs,
            decodeMs: performance.now() - t0,
          };
        } catch (err) {
          if (!(err instanceof ImageDecodeError)) throw err;
          failures.push(failureLine(d.item, d.etag, 'decode', err.reason));
          return undefined;
        }
      }),
    ),
  );
  return decoded.filter((d) => d !== undefined);
}

/**
 * TEST-ONLY crash hook (CXR_TEST_CRASH_MARKER): kills this process with SIGSEGV, as a native decoder's
 * crash would, when an object's bytes hold the marker. Inert unless the variable is set (no marker, no call).
 */
function crashOnMarker(bytes: Uint8Array, marker: Buffer): void {
  if (Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).includes(marker))
    process.kill(process.pid, 'SIGSEGV');
}

/**
 * Batch input tensors kept for the next batch: a fresh Float32Array per batch (9.6 MB for 16 images) costs
 * page faults, zeroing and garbage collections, 0.5-1.9 CPU ms per image against 0.1-0.3 filling one that is
 * reused (docs/benchmarks.md). A few, for the slots that shared inference runs in one process; an input the
 * shared executor took by transfer comes back detached and is not kept. Every float is written each batch.
 */
const inputPool: Float32Array[] = [];
const POOLED_INPUTS = 2;

/** The decoded objects as one tensor through the model; nothing to score, no call. */
async function predictAll(classifier: PneumoniaClassifier, decoded: readonly Decoded[]): Promise<Scores> {
  if (decoded.length === 0) return { probabilities: new Float32Array(0) };
  const size = classifier.info.inputSize * classifier.info.inputSize * 3;
  const floats = decoded.length * size;
  const at = inputPool.findIndex((a) => a.length === floats);
  const input = at >= 0 ? inputPool.splice(at, 1)[0] : new Float32Array(floats);
  decoded.forEach((d, i) => caffePreprocess(d.rgb, input, i * size));
  try {
    return classifier.score
      ? await classifier.score(input, decoded.length)
      : { probabilities: await classifier.predict(input, decoded.length) };
  } finally {
    if (input.buffer.byteLength > 0 && inputPool.length < POOLED_INPUTS) inputPool.push(input);
  }
}

/**
 * A prediction line for each scored object (a flagged one fails instead under --skip-flagged), after the
 * failures of reading. Pure.
 */
export function assembleLines(
  classifier: Pick<PneumoniaClassifier, 'info'>,
  job: Pick<BatchJobData, 'skipFlagged'>,
  inputs: Pick<Inputs, 'decoded' | 'failures'>,
  { probabilities, ood }: Scores,
  inferenceMs: number,
): { predictions: PredictionLine[]; failures: FailureLine[] } {
  const { info } = classifier;
  const failures = [...inputs.failures];
  const predictions: PredictionLine[] = [];
  inputs.decoded.forEach((d, i) => {
    const probability = probabilities[i];
    const extras = predictionExtras(d.dicom, ood?.[i], info.oodThreshold, d.inTrainingSet);
    const skipFor = skippableFlags(extras.flags);
    if (job.skipFlagged && skipFor) {
      failures.push(failureLine(d.item, d.etag, 'flagged', flaggedReason(skipFor)));
      return;
    }
    predictions.push({
      type: 'prediction',
      key: d.item.key,
      etag: d.etag,
      label: probability >= info.threshold ? 'PNEUMONIA' : 'NORMAL',
      probability,
      threshold: info.threshold,
      modelId: info.id,
      modelName: info.name,
      modelVersion: info.version,
      ...(d.item.label ? { trueLabel: d.item.label } : {}),
      timings: {
        downloadMs: round(d.downloadMs),
        decodeMs: round(d.decodeMs),
        inferenceMs: round(inferenceMs / inputs.decoded.length),
      },
      ...extras,
    });
  });
  return { predictions, failures };
}

const round = (ms: number) => Math.round(ms * 10) / 10;
