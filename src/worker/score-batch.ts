import os from 'node:os';
import type { S3Client } from '@aws-sdk/client-s3';
import pLimit from 'p-limit';
import type { Logger } from '../shared/logger.js';
import { ImageDecodeError } from '../shared/image/decode.js';
import { decodeInput } from '../shared/image/decode-input.js';
import type { DicomInfo } from '../shared/image/dicom/decode-dicom.js';
import { caffePreprocess } from '../model/preprocess.js';
import type { PneumoniaClassifier, Scores } from '../model/classifier.js';
import { putJson, putObject } from '../shared/s3/objects.js';
import {
  runLayout,
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
}

export interface BatchResult {
  lines: PartLine[];
  meta: PartMeta;
}

interface Decoded {
  item: RunItem;
  etag: string;
  rgb: Uint8Array;
  dicom?: DicomInfo;
  /** The object's bytes are in the model's training set. */
  inTrainingSet?: boolean;
  downloadMs: number;
  decodeMs: number;
}

/**
 * Downloads, decodes and scores one batch as a single tensor, then writes its part (idempotent overwrite).
 * An unreadable or undecodable object becomes a failure line; S3 or model errors fail the batch for a retry.
 */
export async function scoreBatch(deps: ScoreDeps, job: BatchJobData, items: readonly RunItem[]): Promise<BatchResult> {
  const startedAt = new Date();
  const failures: FailureLine[] = [];
  const fail = (item: RunItem, etag: string, stage: FailureLine['stage'], reason: string) =>
    failures.push({
      type: 'failure',
      key: item.key,
      etag,
      stage,
      reason,
      ...(item.label ? { trueLabel: item.label } : {}),
    });

  const limit = pLimit(deps.downloadConcurrency ?? 8);
  const decodeLimit = pLimit(Math.max(2, os.availableParallelism()));
  let t = performance.now();
  const blank = new Uint8Array(0);
  const downloaded =
    deps.readImages === false
      ? items.map((item) => ({ item, etag: item.etag, bytes: blank, downloadMs: 0 }))
      : await Promise.all(
          items.map((item) =>
            limit(async () => {
              const t0 = performance.now();
              try {
                const obj = await downloadObject(deps.s3, job.source.bucket, item.key);
                return {
                  item,
                  ...obj,
                  downloadMs: performance.now() - t0,
                  inTrainingSet: deps.trainingSet?.hasImage(obj.bytes),
                };
              } catch (err) {
                if (!(err instanceof ObjectReadError)) throw err;
                fail(item, item.etag, 'download', err.reason);
                return undefined;
              }
            }),
          ),
        );
  const downloadMs = performance.now() - t;

  t = performance.now();
  const decoded = (
    await Promise.all(
      downloaded.map((d) =>
        d && deps.readImages === false
          ? { item: d.item, etag: d.etag, rgb: blank, downloadMs: 0, decodeMs: 0 }
          : d
            ? decodeLimit(async (): Promise<Decoded | undefined> => {
                const t0 = performance.now();
                try {
                  const { rgb, dicom } = await decodeInput(d.bytes, deps.classifier.info.inputSize);
                  return {
                    item: d.item,
                    etag: d.etag,
                    rgb,
                    dicom,
                    inTrainingSet: 'inTrainingSet' in d && d.inTrainingSet,
                    downloadMs: d.downloadMs,
                    decodeMs: performance.now() - t0,
                  };
                } catch (err) {
                  if (!(err instanceof ImageDecodeError)) throw err;
                  fail(d.item, d.etag, 'decode', err.reason);
                  return undefined;
                }
              })
            : undefined,
      ),
    )
  ).filter((d): d is Decoded => d !== undefined);
  const decodeMs = performance.now() - t;

  t = performance.now();
  const { probabilities, ood } =
    deps.readImages === false
      ? { probabilities: await deps.classifier.predict(new Float32Array(0), decoded.length), ood: undefined }
      : await predictAll(deps.classifier, decoded);
  const inferenceMs = performance.now() - t;

  const { info } = deps.classifier;
  const predictions: PredictionLine[] = [];
  decoded.forEach((d, i) => {
    const probability = probabilities[i];
    const extras = predictionExtras(d.dicom, ood?.[i], info.oodThreshold, d.inTrainingSet);
    const skipFor = skippableFlags(extras.flags);
    if (job.skipFlagged && skipFor) {
      fail(d.item, d.etag, 'flagged', flaggedReason(skipFor));
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
        inferenceMs: round(inferenceMs / decoded.length),
      },
      ...extras,
    });
  });
  const lines: PartLine[] = [...predictions, ...failures];

  t = performance.now();
  const layout = runLayout(job.out, job.runId);
  const generation = job.generation ?? 0;
  await putObject(
    deps.s3,
    layout.bucket,
    layout.part(job.batch, generation),
    lines.map((l) => JSON.stringify(l)).join('\n') + '\n',
    'application/x-ndjson',
  );
  const uploadMs = performance.now() - t;

  const meta: PartMeta = {
    runId: job.runId,
    batch: job.batch,
    generation,
    images: items.length,
    scored: predictions.length,
    failed: failures.length,
    stageMs: {
      download: round(downloadMs),
      decode: round(decodeMs),
      inference: round(inferenceMs),
      upload: round(uploadMs),
    },
    backend: deps.classifier.backend,
    host: os.hostname(),
    pid: process.pid,
    startedAt: startedAt.toISOString(),
    finishedAt: new Date().toISOString(),
    ...(deps.coldStartMs ? { coldStartMs: deps.coldStartMs } : {}),
  };
  await putJson(deps.s3, layout.bucket, layout.partMeta(job.batch, generation), meta);
  return { lines, meta };
}

/**
 * Batch input tensors kept for the next batch: a fresh Float32Array per batch (9.6 MB for 16 images) costs
 * page faults, zeroing and garbage collections, 0.5-1.9 CPU ms per image against 0.1-0.3 filling one that is
 * reused (docs/benchmarks.md). A few, for the slots that shared inference runs in one process; an input the
 * shared executor took by transfer comes back detached and is not kept. Every float is written each batch.
 */
const inputPool: Float32Array[] = [];
const POOLED_INPUTS = 2;

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

const round = (ms: number) => Math.round(ms * 10) / 10;
