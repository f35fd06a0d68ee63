// The INT8 model of a TF.js model folder: calibrated once on training images (ranges kept in
// int8-calibration.json beside the model, a few KB), built from the FP32 export and those ranges
// wherever a worker needs it, and cached like the FP32 export.
import type { S3Client } from '@aws-sdk/client-s3';
import { createHash } from 'node:crypto';
import { readFile, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { getBytesIfExists, getTextIfExists } from '../../../shared/s3/objects.js';
import type { Logger } from '../../../shared/logger.js';
import { seededRandom, shuffled } from '../../../shared/sampling.js';
import { defaultModelDir } from '../../classifier.js';
import { localModelDir } from '../../io/s3-io.js';
import { parseS3Folder } from '../../../shared/s3/uri.js';
import { groupByPatient, parseGroupBy } from '../../train/groups.js';
import { listDataset, type ImageItem } from '../../train/dataset.js';
import { stratifiedSplit } from '../../train/split.js';
import { readMetadata } from '../../metadata.js';
import { verifyModelDir } from '../../verify-model.js';
import { onceAcrossProcesses } from '../file-lock.js';
import { checkOnnxModelId, defaultOnnxCache, ensureOnnxModel, type OnnxModelFile } from '../onnx-file.js';
import type { OrtModule } from '../ort-session.js';
import { onnx } from '../proto.js';
import { encodeModel, readMetadataProps, writeFileAtomic } from '../writer.js';
import { collectHistograms, loadInputs, scoreInputs } from './calibrate.js';
import { scoreAgreement, type ScoreAgreement } from './parity.js';
import { planQdq, quantizeModel } from './qdq.js';
import { methodName, parseMethod, rangeOf, type MethodSpec, type Range } from './ranges.js';

export const INT8_FILE = 'model.int8.onnx';
export const CALIBRATION_FILE = 'int8-calibration.json';
export const PARITY_FILE = 'int8-parity.json';
export const cachedInt8File = (cacheDir: string, modelId: string): string => join(cacheDir, `${modelId}.int8.onnx`);

/** The split the model was validated on: patient-grouped, seed 42, 20% (as 2.0.0 was trained). */
export const SPLIT = { seed: 42, valFraction: 0.2, groupBy: 'auto' } as const;

export interface CalibrationRecord {
  modelId: string;
  method: string;
  /** Training-split images the ranges were measured on (never validation). */
  images: number;
  data: string;
  seed: number;
  activations: 'uint8 asymmetric, per tensor';
  weights: 'int8 symmetric, per output channel (axis 0)';
  /** Conv / Add nodes left in FP32. */
  keepFp32: string[];
  /** How each candidate method scored against FP32 on other training images (the choice is the lowest mean |logit diff|). */
  selection?: Array<{ method: string } & ScoreAgreement>;
  ranges: Record<string, [number, number]>;
}

/** The patient-grouped train / validation split of a labelled image folder. */
export async function splitOf(dataDir: string): Promise<{ train: ImageItem[]; val: ImageItem[] }> {
  const grouped = groupByPatient(await listDataset(dataDir), (i) => i.path, parseGroupBy(SPLIT.groupBy));
  return stratifiedSplit(grouped.items, SPLIT.valFraction, SPLIT.seed);
}

/** What a built INT8 file records of its calibration, so that a cached build older than the calibration is rebuilt. */
export const calibrationHash = (cal: CalibrationRecord): string =>
  createHash('sha256')
    .update(JSON.stringify([cal.modelId, cal.method, cal.keepFp32, cal.ranges]))
    .digest('hex')
    .slice(0, 16);

/** The QDQ INT8 model bytes from the FP32 export and a calibration record. */
export function buildInt8(fp32: Uint8Array, cal: CalibrationRecord): Uint8Array {
  const ranges = Object.fromEntries(Object.entries(cal.ranges).map(([k, [lo, hi]]) => [k, { lo, hi }]));
  const m = quantizeModel(onnx.ModelProto.decode(fp32), {
    ranges,
    keepFp32: new Set(cal.keepFp32),
    metadata: {
      int8Calibration: calibrationHash(cal),
      quantization: JSON.stringify({
        format: 'QDQ',
        weights: cal.weights,
        activations: cal.activations,
        method: cal.method,
        images: cal.images,
        keepFp32: cal.keepFp32,
      }),
    },
  });
  return encodeModel(m);
}

export interface CalibrateOptions {
  ort: OrtModule;
  fp32: OnnxModelFile;
  data: string;
  /** Calibration images (default 300) and, apart from them, images that choose the method (default 200); both from the training split. */
  images?: number;
  selectImages?: number;
  methods?: MethodSpec[];
  keepFp32?: string[];
  threads: number;
  logger?: Logger;
}

export const DEFAULT_METHODS = ['minmax', 'percentile:0.9999', 'percentile:0.99999', 'entropy'].map(parseMethod);

/**
 * Calibrates on training-split images and picks the method (of `methods`) whose INT8 scores stay
 * closest to FP32 on other training images. Validation images are not touched.
 */
export async function calibrate(o: CalibrateOptions): Promise<CalibrationRecord> {
  const { train } = await splitOf(o.data);
  const picked = shuffled(train, seededRandom(SPLIT.seed ^ 0x1a7e)); // no class balancing: the training mix is what workers see
  const nCal = o.images ?? 300;
  const nSel = o.selectImages ?? 200;
  if (picked.length < nCal + nSel)
    throw new Error(`--data ${o.data}: ${picked.length} training-split images, fewer than ${nCal} + ${nSel}`);
  const calInputs = await loadInputs(picked.slice(0, nCal).map((i) => i.path));
  const keepFp32 = o.keepFp32 ?? [];
  const plan = planQdq(onnx.ModelProto.decode(o.fp32.bytes).graph!, new Set(keepFp32));
  o.logger?.info(
    { images: nCal, tensors: plan.calibrate.length, quantOps: plan.quantOps.length },
    'calibrating INT8 ranges on training images',
  );
  const hists = await collectHistograms(o.ort, o.fp32.bytes, plan.calibrate, calInputs, {
    threads: o.threads,
    logger: o.logger,
  });
  const methods = o.methods ?? DEFAULT_METHODS;
  const base = {
    modelId: o.fp32.model.id,
    images: nCal,
    data: o.data,
    seed: SPLIT.seed,
    keepFp32,
    activations: 'uint8 asymmetric, per tensor',
    weights: 'int8 symmetric, per output channel (axis 0)',
  } as const;
  const record = (m: MethodSpec): CalibrationRecord => ({
    ...base,
    method: methodName(m),
    ranges: Object.fromEntries(
      [...hists].map(([t, h]) => {
        const r: Range = rangeOf(h, m);
        return [t, [r.lo, r.hi]];
      }),
    ),
  });
  if (methods.length === 1) return record(methods[0]);
  const selInputs = await loadInputs(picked.slice(nCal, nCal + nSel).map((i) => i.path));
  const threshold = o.fp32.model.meta.threshold;
  const fp32Scores = await scoreInputs(o.ort, o.fp32.bytes, selInputs, { threads: o.threads });
  const selection: NonNullable<CalibrationRecord['selection']> = [];
  for (const m of methods) {
    const int8Scores = await scoreInputs(o.ort, buildInt8(o.fp32.bytes, record(m)), selInputs, { threads: o.threads });
    selection.push({ method: methodName(m), ...scoreAgreement(fp32Scores, int8Scores, threshold) });
    o.logger?.info(
      selection.at(-1),
      `calibration method ${methodName(m)} against FP32 on ${nSel} other training images`,
    );
  }
  const best = [...selection].sort((a, b) => a.meanAbsLogitDiff - b.meanAbsLogitDiff)[0];
  return { ...record(methods[selection.indexOf(best)]), selection };
}

const exists = (p: string) =>
  stat(p).then(
    () => true,
    () => false,
  );

/** int8-calibration.json of a model (local folder or S3 prefix); undefined when there is none. */
export async function readCalibration(
  modelUri: string,
  localDir: string,
  s3?: S3Client,
): Promise<CalibrationRecord | undefined> {
  let text: string | undefined;
  if (modelUri.startsWith('s3://')) {
    const { bucket, prefix } = parseS3Folder(modelUri);
    text = await getTextIfExists(s3!, bucket, prefix + CALIBRATION_FILE);
  } else if (await exists(join(localDir, CALIBRATION_FILE)))
    text = await readFile(join(localDir, CALIBRATION_FILE), 'utf8');
  return text === undefined ? undefined : (JSON.parse(text) as CalibrationRecord);
}

/** Whether 'auto' may run a model on INT8: a passing int8-parity.json for this model id, and the means to build the file. */
export type Int8Readiness = { ready: true; reason: string } | { ready: false; reason: string };

/**
 * Reads the local model folder (an S3 model's cached copy carries both files): INT8 is the default only
 * where its parity with FP32 was measured for this very model and held, so a retrained or fine-tuned
 * model stays on FP32 until `npm run int8:parity` passes for it.
 */
export async function int8Readiness(dir: string): Promise<Int8Readiness> {
  const id = (await readMetadata(dir)).id;
  const parityText = await readFile(join(dir, PARITY_FILE), 'utf8').catch(() => undefined);
  if (parityText === undefined) return { ready: false, reason: `no ${PARITY_FILE} beside the model` };
  const parity = JSON.parse(parityText) as { modelId?: string; pass?: boolean };
  if (parity.modelId !== id)
    return { ready: false, reason: `${PARITY_FILE} was measured for model ${parity.modelId}, not ${id}` };
  if (parity.pass !== true) return { ready: false, reason: `${PARITY_FILE} records that INT8 parity does not hold` };
  if (await exists(join(dir, INT8_FILE))) return { ready: true, reason: `INT8 parity holds (${PARITY_FILE})` };
  const cal = await readCalibration(dir, dir);
  if (!cal) return { ready: false, reason: `neither ${INT8_FILE} nor ${CALIBRATION_FILE} beside the model` };
  if (cal.modelId !== id)
    return { ready: false, reason: `${CALIBRATION_FILE} was calibrated for model ${cal.modelId}, not ${id}` };
  return { ready: true, reason: `INT8 parity holds (${PARITY_FILE})` };
}

/**
 * The INT8 file for a model: model.int8.onnx beside it (local folder or S3, cached), else built from
 * the FP32 export and int8-calibration.json beside the model into <cache>/<modelId>.int8.onnx once.
 */
export async function ensureInt8Model(
  opts: { modelUri?: string; s3?: S3Client; logger?: Logger; cacheDir?: string } = {},
): Promise<OnnxModelFile> {
  const uri = opts.modelUri ?? defaultModelDir();
  const model = await verifyModelDir(await localModelDir(uri, opts.s3));
  const cached = cachedInt8File(opts.cacheDir ?? defaultOnnxCache(), model.id);
  let path = cached;
  let source: OnnxModelFile['source'] = 'cache';
  if (!uri.startsWith('s3://') && (await exists(join(uri, INT8_FILE)))) {
    path = join(uri, INT8_FILE);
    source = 'beside';
  } else {
    // A local model's calibration may have been redone since the cached build: build again then.
    const cal = uri.startsWith('s3://') ? undefined : await readCalibration(uri, model.dir);
    if (
      cal &&
      (await exists(cached)) &&
      readMetadataProps(new Uint8Array(await readFile(cached))).int8Calibration !== calibrationHash(cal)
    )
      await rm(cached, { force: true });
  }
  if (path === cached && !(await exists(cached))) {
    await onceAcrossProcesses(cached, async () => {
      if (uri.startsWith('s3://')) {
        const { bucket, prefix } = parseS3Folder(uri);
        const bytes = await getBytesIfExists(opts.s3!, bucket, prefix + INT8_FILE);
        if (bytes) {
          await writeFileAtomic(cached, bytes);
          source = 's3';
          return;
        }
      }
      const cal = await readCalibration(uri, model.dir, opts.s3);
      if (!cal)
        throw new Error(
          `engine onnx-int8: model ${uri} has neither ${INT8_FILE} nor ${CALIBRATION_FILE} beside it; run \`cxr models export-onnx --int8 --calibration-data <train dir>\``,
        );
      if (cal.modelId !== model.id)
        throw new Error(
          `${CALIBRATION_FILE} of ${uri} was calibrated for model ${cal.modelId}, not ${model.id}; calibrate again (cxr models export-onnx --int8 --calibration-data <train dir>)`,
        );
      const fp32 = await ensureOnnxModel({ ...opts, modelUri: uri });
      opts.logger?.info(
        { modelId: model.id, to: cached, method: cal.method },
        `no ${INT8_FILE} beside ${uri}; building it from ${CALIBRATION_FILE}`,
      );
      // Paid once per host and model (the first worker to get here; the others wait on the lock): logged with its cost.
      const t0 = performance.now();
      const cpu0 = process.cpuUsage();
      const bytes = buildInt8(fp32.bytes, cal);
      await writeFileAtomic(cached, bytes);
      const cpu = process.cpuUsage(cpu0);
      opts.logger?.info(
        {
          modelId: model.id,
          to: cached,
          bytes: bytes.length,
          ms: Math.round(performance.now() - t0),
          cpuMs: Math.round((cpu.user + cpu.system) / 1000),
        },
        'INT8 model built (first use on this host)',
      );
      source = 'exported';
    });
  }
  // The file's own buffer, not a copy: a copy doubles the model's bytes on the JS heap until a GC (slot-memory).
  const bytes: Uint8Array = await readFile(path);
  checkOnnxModelId(bytes, model.id, path);
  return { model, path, source, bytes };
}
