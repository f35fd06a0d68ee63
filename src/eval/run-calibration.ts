import type { S3Client } from '@aws-sdk/client-s3';
import type { Queue } from 'bullmq';
import { createHash } from 'node:crypto';
import { waitDone } from './run-eval.js';
import { createRun, streamPredictions, type RunStore, type PredictionLine } from '../run/index.js';
import { listImages } from '../shared/s3/list-images.js';
import { labelFromKey, type ClassName } from '../shared/labels.js';
import type { Logger } from '../shared/logger.js';
import type { Claims } from '../shared/s3/put-if-absent.js';
import { formatS3Uri, type S3Location } from '../shared/s3/uri.js';
import { resolveModelUri } from '../shared/model-pointer.js';
import { backboneHash } from '../model/backbone.js';
import { localModelDir } from '../model/io/s3-io.js';
import { copyModelFolder, modelFolder } from '../model/io/model-files.js';
import { modelIdOfDir } from '../model/model-id.js';
import { ONNX_FILE } from '../model/onnx/onnx-file.js';
import { onnxMetadata } from '../model/onnx/source-model.js';
import { verifyModelDir } from '../model/verify-model.js';
import { withMetadataProps } from '../model/onnx/writer.js';
import { groupByPatient, parseGroupBy } from '../model/train/groups.js';
import { validationReport } from '../model/train/validation-report.js';
import {
  calibratedCard,
  calibratedMetadata,
  calibratedVersion,
  checkSampleSize,
  sameWeightIds,
  type CalibrationSample,
} from '../model/calibrate/calibration.js';

export interface CalibrateDeps {
  s3: S3Client;
  /** First-writer-wins claims for the scoring run's manifest (create-run). */
  claims: Claims;
  /** The score queue. */
  queue: Queue;
  store: RunStore;
  logger: Logger;
  pollMs?: number;
  timeoutMs?: number;
  now?: () => Date;
}

export interface CalibrateRequest {
  /** Model folder, s3:// prefix or promoted pointer. */
  model: string;
  data: S3Location;
  /** Output model folder (local or s3://). */
  out: string;
  /** Where the scoring run writes (RUNS/RUN_ID/). */
  runsOut: S3Location;
  targetSensitivity: number;
  margin: number;
  batchSize: number;
  labels?: { byKey: Map<string, ClassName>; groups: Map<string, string>; from: string };
  groupBy: string;
  version?: string;
  runId?: string;
  bootstrap?: { replicates?: number; seed?: number };
}

export interface CalibrateResult {
  id: string;
  version: string;
  threshold: number;
  out: string;
  runId: string;
  previousId: string;
  files: string[];
}

/** Run id of a calibration: the model and the sample's content (keys + ETags), so a retry reuses its scoring run. */
export function calibrationRunId(modelId: string, objects: readonly { key: string; etag: string }[]): string {
  const h = createHash('sha256')
    .update(objects.map((o) => `${o.key}\t${o.etag}`).join('\n'))
    .digest('hex')
    .slice(0, 12);
  return `calib-${modelId}-${h}`;
}

/**
 * `cxr models calibrate`: checks the sample can support the target, scores it with the pipeline (score
 * workers running this model's weights), picks the threshold for the target sensitivity and writes a
 * new model version: every file of the model copied, metadata.json / MODEL_CARD.md (and model.onnx's
 * metadata) rewritten with the new threshold and id.
 */
export async function calibrateModel(deps: CalibrateDeps, req: CalibrateRequest): Promise<CalibrateResult> {
  const now = deps.now ?? (() => new Date());
  const source = (await resolveModelUri(deps.s3, req.model)) ?? req.model;
  if (source.replace(/\/+$/, '') === req.out.replace(/\/+$/, ''))
    throw new Error(`--out ${req.out} is the model itself; write the calibrated version elsewhere`);
  const model = await verifyModelDir(await localModelDir(source, deps.s3));
  const where = formatS3Uri(req.data);

  const listed = await listImages(deps.s3, req.data);
  const labelOf = (k: string) => (req.labels ? req.labels.byKey.get(k) : labelFromKey(k));
  const labelled = listed.filter((o) => labelOf(o.key));
  const positives = labelled.filter((o) => labelOf(o.key) === 'PNEUMONIA').length;
  const required = checkSampleSize(positives, labelled.length - positives, req.targetSensitivity, req.margin, where);

  const workers = await deps.queue.getWorkersCount();
  if (workers === 0) {
    throw new Error(
      `no score worker is connected to queue '${deps.queue.name}': start \`cxr worker\` with CXR_MODEL_URI=${req.model} (calibration scores the sample with the pipeline)`,
    );
  }
  const runId = req.runId ?? calibrationRunId(model.id, labelled);
  const log = deps.logger.child({ runId, model: model.id });
  log.info({ sample: where, images: labelled.length, positives, required, workers }, 'calibration: scoring the sample');
  await createRun(deps, {
    runId,
    source: req.data,
    out: req.runsOut,
    batchSize: req.batchSize,
    labels: req.labels ? { byKey: req.labels.byKey, from: req.labels.from } : undefined,
  });
  await waitDone(deps, runId);

  // The sample is small (it was listed above); a labelled prediction keeps its key for the patient groups.
  const accepted = sameWeightIds(model.meta);
  const scored: Pick<PredictionLine, 'key' | 'etag' | 'probability' | 'trueLabel'>[] = [];
  for await (const p of streamPredictions(deps.s3, req.runsOut, runId)) {
    if (!accepted.has(p.modelId)) {
      throw new Error(
        `run ${runId} was scored by model ${p.modelId} (${p.modelName} ${p.modelVersion}), not by ${model.id} or a model with its weights: ` +
          `start the score workers with CXR_MODEL_URI=${req.model} and run calibrate again with a new --run-id`,
      );
    }
    if (p.trueLabel) scored.push({ key: p.key, etag: p.etag, probability: p.probability, trueLabel: p.trueLabel });
  }
  const truth = scored.map((p) => p.trueLabel === 'PNEUMONIA');
  const pos = truth.filter(Boolean).length;
  checkSampleSize(pos, scored.length - pos, req.targetSensitivity, req.margin, `the scored part of ${where}`);
  const grouped = groupByPatient(
    scored.map((p) => ({ key: p.key, group: p.etag || p.key })),
    (p) => p.key,
    parseGroupBy(req.groupBy),
    req.labels?.groups,
  );
  const report = validationReport(
    truth,
    scored.map((p) => p.probability),
    grouped.items.map((p) => p.group),
    { kind: 'sens-target', target: req.targetSensitivity },
    req.bootstrap,
  );
  const sample: CalibrationSample = {
    uri: where,
    labelsFrom: req.labels?.from ?? 'key-folders',
    runId,
    runsOut: formatS3Uri(req.runsOut),
    n: scored.length,
    positives: pos,
    negatives: scored.length - pos,
    failed: labelled.length - scored.length,
    patients: grouped.stats.groups,
  };
  const at = now();
  const meta = calibratedMetadata(
    model.meta,
    {
      targetSensitivity: req.targetSensitivity,
      margin: req.margin,
      requiredPositives: required,
      sample,
      report,
      calibratedAt: at.toISOString(),
    },
    req.version ?? calibratedVersion(model.meta.version, at),
  );
  meta.id = await modelIdOfDir(model.dir, await backboneHash(), meta);

  const from = modelFolder(source, deps.s3); // the folder itself: an S3 model's local cache holds only the files TF.js needs
  const to = modelFolder(req.out, deps.s3);
  const enc = (s: string) => new Uint8Array(Buffer.from(s, 'utf8'));
  const card = (await from.list()).includes('MODEL_CARD.md')
    ? Buffer.from(await from.read('MODEL_CARD.md')).toString('utf8')
    : undefined;
  const onnxProps = onnxMetadata({ dir: req.out, id: meta.id, meta });
  const files = await copyModelFolder(
    from,
    to,
    new Map([
      ['MODEL_CARD.md', enc(calibratedCard(card, meta))],
      ['metadata.json', enc(JSON.stringify(meta, null, 2) + '\n')],
    ]),
    (rel, bytes) => (rel === ONNX_FILE ? withMetadataProps(bytes, onnxProps) : bytes),
  );
  log.info(
    { out: req.out, id: meta.id, threshold: meta.threshold, previous: model.meta.threshold, metrics: report.metrics },
    'calibrated model written',
  );
  return {
    id: meta.id,
    version: meta.version,
    threshold: meta.threshold,
    out: req.out,
    runId,
    previousId: model.id,
    files,
  };
}
