import type { Command } from 'commander';
import { defaultModelDir } from '../../model/classifier.js';
import { localModelDir } from '../../model/io/s3-io.js';
import { parseS3Folder } from '../../shared/s3/uri.js';
import { exportModelToOnnx } from '../../model/onnx/export-model.js';
import { cachedOnnxFile, defaultOnnxCache, ONNX_FILE } from '../../model/onnx/onnx-file.js';
import { verifyModelDir } from '../../model/verify-model.js';
import { writeOnnx } from '../../model/onnx/writer.js';
import { createLogger } from '../../shared/logger.js';
import { createS3Client } from '../../shared/s3/client.js';
import { configFrom, type GlobalFlags } from '../runtime.js';
import { positiveInt } from '../parse.js';
import { writeInt8 } from '../../model/onnx/int8/export-int8.js';

interface ExportFlags {
  model?: string;
  out?: string;
  int8?: boolean;
  calibrationData?: string;
  calibrationImages: number;
  method?: string;
  keepFp32?: string;
}

/**
 * Where the ONNX file goes by default: beside an S3 model (workers download it from there), and for a
 * local model the ONNX cache <cache>/<modelId>.onnx that workers on this host read (git-ignored, so a
 * 94 MB export never lands in the repository's model folder).
 */
export function defaultOnnxOut(modelUri: string, modelId: string, cacheDir = defaultOnnxCache()): string {
  if (!modelUri.startsWith('s3://')) return cachedOnnxFile(cacheDir, modelId);
  const { bucket, prefix } = parseS3Folder(modelUri);
  return `s3://${bucket}/${prefix}${ONNX_FILE}`;
}

/** `cxr models export-onnx`: the TF.js model (backbone + head) as one ONNX file for the onnx engine. */
export function registerExportOnnx(models: Command): void {
  models
    .command('export-onnx')
    .description(
      `export the model (ResNet50 + head) to ONNX: ${ONNX_FILE} beside an S3 model, models/.cache/onnx/<modelId>.onnx for a local one`,
    )
    .option('--model <dir|s3://…>', 'TF.js model folder or S3 prefix (default: CXR_MODEL_URI or the shipped model)')
    .option(
      '--out <file|s3://…>',
      `output file or S3 key (default: ${ONNX_FILE} beside an S3 model; the local ONNX cache, which workers read, for a local model)`,
    )
    .option(
      '--int8',
      'the static INT8 (QDQ) model instead, for --engine onnx-int8: model.int8.onnx beside an S3 model, the ONNX cache for a local one',
    )
    .option(
      '--calibration-data <dir>',
      'with --int8: a labelled image folder (NORMAL/, PNEUMONIA/); ranges are measured on images of its patient-grouped training split and written to int8-calibration.json beside the model (without it, the stored int8-calibration.json is used)',
    )
    .option(
      '--calibration-images <n>',
      'with --calibration-data: calibration images (another 200 choose the method)',
      positiveInt('--calibration-images'),
      300,
    )
    .option(
      '--method <m>',
      'with --calibration-data: minmax, entropy or percentile:P (default: the one closest to FP32 on held-apart training images)',
    )
    .option('--keep-fp32 <nodes>', 'with --calibration-data: comma-separated Conv/Add node names to leave in FP32')
    .action(async (flags: ExportFlags, cmd: Command) => {
      const logger = createLogger({ role: 'models' });
      const modelUri = flags.model ?? (process.env.CXR_MODEL_URI || defaultModelDir());
      const needsS3 = modelUri.startsWith('s3://') || !!flags.out?.startsWith('s3://');
      const s3 = needsS3 ? createS3Client(configFrom(cmd.optsWithGlobals<GlobalFlags>()).s3) : undefined;
      try {
        const model = await verifyModelDir(await localModelDir(modelUri, s3));
        if (flags.int8) {
          for (const line of await writeInt8({ ...flags, modelUri, model, s3, logger }))
            process.stdout.write(`${line}\n`);
          return;
        }
        const out = flags.out ?? defaultOnnxOut(modelUri, model.id);
        const written = await writeOnnx(out, await exportModelToOnnx(model, logger), s3);
        process.stdout.write(`${written}\n`);
      } finally {
        s3?.destroy();
      }
    });
}
