// npm run int8:parity -- [--model DIR] [--data DIR]
// Scores the patient-grouped validation split (seed 42, 20%: the split the model was validated on) with
// the FP32 export and with the INT8 model built from int8-calibration.json, then writes int8-parity.json
// beside the model and an "INT8 parity" section into its MODEL_CARD.md. When the model holds patients out
// (held-out.json, paths relative to --data), their images are scored the same way. Prints the JSON as its
// last line. Exit code 0 when parity holds (validation: AUC change <= 0.003, decision agreement >= 99.5%;
// held-out patients: accuracy within 0.5 points), 1 when it does not: `auto` then keeps FP32.
import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { createLogger } from '../../../shared/logger.js';
import { repoRoot } from '../../../shared/paths.js';
import { defaultModelDir } from '../../classifier.js';
import { localModelDir } from '../../io/s3-io.js';
import { verifyModelDir } from '../../verify-model.js';
import { defaultOnnxCache, ensureOnnxModel } from '../onnx-file.js';
import { importOrt, threadsPerProcess } from '../ort-session.js';
import { writeFileAtomic } from '../writer.js';
import { loadInputs, scoreInputs } from './calibrate.js';
import { buildInt8, CALIBRATION_FILE, PARITY_FILE, readCalibration, splitOf, SPLIT } from './int8-model.js';
import { readHeldOut } from '../../held-out.js';
import { cardSection, heldOutParity, parityReport, withCardSection } from './parity.js';

const { values: v } = parseArgs({
  options: {
    model: { type: 'string' },
    data: { type: 'string', default: resolve(repoRoot(), '..', 'shared', 'datasets', 'chest-xray-pneumonia', 'train') },
    batch: { type: 'string', default: '16' },
  },
});

async function main(): Promise<void> {
  const log = createLogger({ role: 'int8-parity' });
  const modelUri = v.model ?? defaultModelDir();
  if (modelUri.startsWith('s3://'))
    throw new Error(`--model ${modelUri}: give a local model folder (the parity file and card are written into it)`);
  const model = await verifyModelDir(await localModelDir(modelUri));
  const cal = await readCalibration(modelUri, model.dir);
  if (!cal)
    throw new Error(
      `--model ${model.dir}: no ${CALIBRATION_FILE}; run \`cxr models export-onnx --int8 --model ${model.dir} --calibration-data ${v.data}\` first`,
    );
  if (cal.modelId !== model.id)
    throw new Error(
      `--model ${model.dir}: ${CALIBRATION_FILE} is for model ${cal.modelId}, not ${model.id}; calibrate again`,
    );
  const ort = await importOrt();
  const fp32 = await ensureOnnxModel({ modelUri: model.dir, logger: log });
  const int8 = buildInt8(fp32.bytes, cal);
  const { val } = await splitOf(v.data);
  const opts = { threads: threadsPerProcess(), batch: Number(v.batch) };
  /**
   * FP32 and INT8 scores of a set of image files. FP32 scores depend only on the model and the images: kept in
   * the ONNX cache under `name`, so trying another INT8 variant rescores INT8 only.
   */
  const scoreBoth = async (name: string, paths: string[], imagesKey: string) => {
    log.info({ images: paths.length, data: v.data }, `scoring ${name} with FP32 and INT8`);
    const inputs = await loadInputs(paths);
    const t0 = Date.now();
    const scoresFile = join(defaultOnnxCache(), `${model.id}.${name}-fp32-scores.json`);
    const stored = await readFile(scoresFile, 'utf8').then(
      (t) => JSON.parse(t) as { images: string; scores: number[] },
      () => undefined,
    );
    const cached = stored?.images === imagesKey;
    const fp32Scores = cached ? Float32Array.from(stored.scores) : await scoreInputs(ort, fp32.bytes, inputs, opts);
    if (!cached)
      await writeFileAtomic(
        scoresFile,
        new TextEncoder().encode(JSON.stringify({ images: imagesKey, scores: Array.from(fp32Scores) })),
      );
    const t1 = Date.now();
    const int8Scores = await scoreInputs(ort, int8, inputs, opts);
    const seconds = { fp32: cached ? ('cached' as const) : (t1 - t0) / 1000, int8: (Date.now() - t1) / 1000 };
    return { fp32Scores, int8Scores, seconds };
  };
  const valScores = await scoreBoth(
    'val',
    val.map((i) => i.path),
    val.map((i) => i.sha256).join(','),
  );
  const held = await readHeldOut(model.dir);
  const heldPaths = held?.images.map((i) => join(v.data, i.path)) ?? [];
  const heldScores = held ? await scoreBoth('held-out', heldPaths, heldPaths.join(',')) : undefined;
  const report = parityReport(
    val.map((i) => i.label === 1),
    valScores.fp32Scores,
    valScores.int8Scores,
    model.meta.threshold,
  );
  const heldOut =
    held && heldScores
      ? heldOutParity(
          held.images.map((i) => i.label === 1),
          heldScores.fp32Scores,
          heldScores.int8Scores,
          model.meta.threshold,
          new Set(held.images.map((i) => i.patient)).size,
        )
      : undefined;
  const pass = report.pass && (heldOut?.pass ?? true);
  const result = {
    modelId: model.id,
    name: model.meta.name,
    version: model.meta.version,
    split: { ...SPLIT, data: v.data, n: val.length },
    calibration: { method: cal.method, images: cal.images, keepFp32: cal.keepFp32 },
    ...report,
    // Validation and the held-out patients both within their limits: what `auto` reads to choose INT8.
    pass,
    validationPass: report.pass,
    ...(heldOut ? { heldOut } : {}),
    scoringSeconds: {
      ...valScores.seconds,
      ...(heldScores ? { heldOut: heldScores.seconds } : {}),
      note: 'one process, on a machine shared with other work: not a benchmark',
    },
    measuredAt: new Date().toISOString(),
    command: 'npm run int8:parity -- --model <dir> --data <train dir>',
  };
  await writeFileAtomic(join(model.dir, PARITY_FILE), new TextEncoder().encode(JSON.stringify(result, null, 1) + '\n'));
  const cardPath = join(model.dir, 'MODEL_CARD.md');
  const card = await readFile(cardPath, 'utf8').catch(() => `# ${model.meta.name} ${model.meta.version}\n`);
  await writeFileAtomic(
    cardPath,
    new TextEncoder().encode(
      withCardSection(
        card,
        cardSection({ ...report, modelId: model.id, split: SPLIT, calibration: result.calibration, heldOut }),
      ),
    ),
  );
  process.stderr.write(`wrote ${join(model.dir, PARITY_FILE)} and the INT8 section of ${cardPath}\n`);
  console.log(JSON.stringify(result));
  process.exitCode = pass ? 0 : 1;
}

await main();
