// `cxr models export-onnx --int8`: calibrate (when given data) and write the INT8 model.
import type { S3Client } from '@aws-sdk/client-s3';
import { join } from 'node:path';
import { putObject } from '../../../shared/s3/objects.js';
import type { Logger } from '../../../shared/logger.js';
import { parseS3Folder } from '../../../shared/s3/uri.js';
import type { VerifiedModel } from '../../verify-model.js';
import { defaultOnnxCache, ensureOnnxModel } from '../onnx-file.js';
import { importOrt, threadsPerProcess } from '../ort-session.js';
import { writeFileAtomic, writeOnnx } from '../writer.js';
import {
  buildInt8,
  CALIBRATION_FILE,
  cachedInt8File,
  calibrate,
  INT8_FILE,
  readCalibration,
  type CalibrationRecord,
} from './int8-model.js';
import { parseMethod } from './ranges.js';

export interface WriteInt8Options {
  modelUri: string;
  model: VerifiedModel;
  s3?: S3Client;
  logger?: Logger;
  out?: string;
  calibrationData?: string;
  calibrationImages?: number;
  method?: string;
  keepFp32?: string;
}

/** Where int8-calibration.json of a model lives: in a local folder, or beside an S3 model. */
async function writeCalibration(o: WriteInt8Options, cal: CalibrationRecord): Promise<string> {
  const text = JSON.stringify(cal, null, 1) + '\n';
  if (!o.modelUri.startsWith('s3://')) {
    const p = join(o.model.dir, CALIBRATION_FILE);
    await writeFileAtomic(p, new TextEncoder().encode(text));
    return p;
  }
  const { bucket, prefix } = parseS3Folder(o.modelUri);
  await putObject(o.s3!, bucket, prefix + CALIBRATION_FILE, text, 'application/json');
  return `s3://${bucket}/${prefix}${CALIBRATION_FILE}`;
}

/** Calibrates when o.calibrationData is set, else reuses the stored calibration; writes the INT8 model. Returns the paths written. */
export async function writeInt8(o: WriteInt8Options): Promise<string[]> {
  const written: string[] = [];
  const fp32 = await ensureOnnxModel({ modelUri: o.modelUri, s3: o.s3, logger: o.logger });
  let cal: CalibrationRecord | undefined;
  if (o.calibrationData) {
    cal = await calibrate({
      ort: await importOrt(),
      fp32,
      data: o.calibrationData,
      images: o.calibrationImages,
      threads: threadsPerProcess(),
      logger: o.logger,
      methods: o.method ? [parseMethod(o.method)] : undefined,
      keepFp32: o.keepFp32
        ?.split(',')
        .map((s) => s.trim())
        .filter(Boolean),
    });
    written.push(await writeCalibration(o, cal));
  } else {
    cal = await readCalibration(o.modelUri, o.model.dir, o.s3);
    if (!cal)
      throw new Error(
        `--int8: ${o.modelUri} has no ${CALIBRATION_FILE} yet; give --calibration-data <labelled train dir>`,
      );
    if (cal.modelId !== o.model.id)
      throw new Error(
        `--int8: ${CALIBRATION_FILE} of ${o.modelUri} is for model ${cal.modelId}, not ${o.model.id}; give --calibration-data <labelled train dir>`,
      );
    if (o.keepFp32 !== undefined) {
      // Keeping more layers in FP32 needs no new ranges: the tensors still quantised were all measured.
      cal = {
        ...cal,
        keepFp32: o.keepFp32
          .split(',')
          .map((s) => s.trim())
          .filter(Boolean),
      };
      written.push(await writeCalibration(o, cal));
    }
  }
  const bytes = buildInt8(fp32.bytes, cal);
  const out =
    o.out ??
    (o.modelUri.startsWith('s3://')
      ? `${o.modelUri.replace(/\/?$/, '/')}${INT8_FILE}`
      : cachedInt8File(defaultOnnxCache(), o.model.id));
  written.push(await writeOnnx(out, bytes, o.s3));
  o.logger?.info({ modelId: o.model.id, method: cal.method, bytes: bytes.byteLength, out }, 'wrote the INT8 model');
  return written;
}
