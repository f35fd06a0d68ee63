// Turns a fine-tune run's checkpoint into the shipped model folder: scores the exported (float16) weights
// on the run's patient-grouped validation split, its stressed validation (fixed shifts) and its held-out
// patients; fits a temperature on the selection set (the stressed validation for runs that select on it)
// and folds it into the head; picks the operating point for the target sensitivity there; reports every
// set with patient-bootstrap intervals and the share of saturated scores, beside the model it replaces
// (--compare DIR); fits the logistic-regression baseline on the frozen features (--no-baseline skips it);
// measures reference statistics (for `models adapt`), and writes metadata, held-out.json and MODEL_CARD.md.
// node dist/train-queue/finetune/ship-model.js --run s3://B/runs/RUN --epoch E --out DIR [--compare OLD_DIR] [--command "..."]
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { loadConfig } from '../../shared/config.js';
import { createLogger } from '../../shared/logger.js';
import { getJsonIfExists } from '../../shared/s3/objects.js';
import { createS3Client } from '../../shared/s3/client.js';
import { parseS3Uri } from '../../shared/s3/uri.js';
import { activationsForItems, mapActivations, readActivationBatch } from './activations-s3.js';
import { trainLayout } from '../layout.js';
import type { HistoryEntry, TrainRunSpec } from '../types.js';
import { ensureBackbone } from '../../model/backbone-fetch.js';
import { backboneHash } from '../../model/backbone.js';
import { cachedS3Model } from '../../model/io/s3-io.js';
import { modelIdOfDir } from '../../model/model-id.js';
import { PREFIX_TOP } from '../../model/resnet50.js';
import { defaultFeatureDir, featurePath, FEATURE_DIM, readFeature } from '../../model/train/features.js';
import { fitLogRegCV, scoreLogReg } from '../../model/train/logreg.js';
import { parseThresholdRule } from '../../model/train/options.js';
import { aucGain, validationReport } from '../../model/train/validation-report.js';
import { renderFinetuneCard } from '../../model/finetune/finetune-card.js';
import { loadFinetuned, referenceStats, writeAdapted } from '../../model/finetune/adapt.js';
import { defaultActivationDir } from '../../model/finetune/activations.js';
import type { ActivationBatches } from '../../model/finetune/site-stats.js';
import { ensureTrainingBackend } from '../../model/finetune/training-backend.js';
import { logitBatch } from '../../model/finetune/finetune-step.js';
import { disposeSuffix, type SuffixModel } from '../../model/finetune/suffix-model.js';
import { fitTemperature, saturatedShare, scoresAt } from '../../model/train/temperature.js';
import { reportAtThreshold, type ValidationReport } from '../../model/train/validation-report.js';
import { STRESS_VARIANTS } from '../../model/train/variants.js';
import type { TrainItem } from '../types.js';
import { evaluationSets, concatF32 } from './evaluation-sets.js';
import { HELD_OUT_FILE } from '../../model/held-out.js';
import * as tf from '@tensorflow/tfjs';

const { values: v } = parseArgs({
  allowNegative: true,
  options: {
    run: { type: 'string' },
    epoch: { type: 'string' },
    out: { type: 'string', default: 'models/pneumonia-resnet50' },
    'threshold-rule': { type: 'string', default: 'sens-target:0.95' },
    'reference-images': { type: 'string', default: '1000' },
    command: { type: 'string', default: '' },
    note: { type: 'string', multiple: true, default: [] },
    'prefix-images-per-sec': { type: 'string' },
    temperature: { type: 'string', default: 'fit' },
    compare: { type: 'string' },
    baseline: { type: 'boolean', default: true },
  },
});
if (!v.run || !v.epoch) throw new Error('--run s3://BUCKET/RUNS/RUN_ID and --epoch E are required');
const log = createLogger({ role: 'ship' });
const config = loadConfig(process.env);
const s3 = createS3Client(config.s3);
const runLoc = parseS3Uri(v.run);
const runId = runLoc.prefix.replace(/\/$/, '').split('/').pop()!;
const out = { bucket: runLoc.bucket, prefix: runLoc.prefix.replace(/\/$/, '').split('/').slice(0, -1).join('/') };
const l = trainLayout(out, runId);
const spec = (await getJsonIfExists<TrainRunSpec>(s3, l.bucket, l.spec))!;
const history = (await getJsonIfExists<HistoryEntry[]>(s3, l.bucket, l.history)) ?? [];
const epoch = Number(v.epoch);
await ensureTrainingBackend(log);
const dir = await cachedS3Model(
  s3,
  `s3://${l.bucket}/${l.epochDir(epoch)}/`,
  await mkdtemp(join(tmpdir(), 'cxr-ship-')),
);
const f = await loadFinetuned(dir);
const layer = PREFIX_TOP[f.model.trainFrom]!;
const bb = await backboneHash();
const fd = {
  s3,
  logger: log,
  featureRoot: defaultFeatureDir(),
  activationRoot: defaultActivationDir(),
  backboneHash: bb,
  backboneDir: () => ensureBackbone(undefined, { logger: log }),
};

// Scores of the exported weights (raw Dense on GAP features: identity standardisation) on every set:
// validation as stored, the stressed validation (its fixed shifts, variants.ts), and the held-out patients.
const id = { mean: tf.zeros([FEATURE_DIM]), std: tf.ones([FEATURE_DIM]) };
const sets = evaluationSets(spec);
const logitsOf = (m: SuffixModel, items: readonly TrainItem[], copy: number): Promise<Float32Array> =>
  mapActivations(fd, spec.data.bucket, items, copy, layer, (x, n) => logitBatch(m, id, x, n));
// One set and variant at a time: each computes its missing activations with its own ONNX session.
const setLogits = async (m: SuffixModel): Promise<Float32Array[]> => {
  const out: Float32Array[] = [];
  for (const st of sets) {
    const parts: Float32Array[] = [];
    for (const c of st.copies) parts.push(await logitsOf(m, st.items, c));
    out.push(concatF32(parts));
  }
  return out;
};
const logits = await setLogits(f.model);
const selection = sets.findIndex(
  (st) => st.name === (spec.recipe.selectOn === 'stressed' ? 'stressed validation' : 'validation'),
);

// Temperature scaling on the selection set, folded into the Dense (weights / T): scores that do not saturate.
const fit =
  v.temperature === 'fit'
    ? fitTemperature(logits[selection], sets[selection].truth)
    : { temperature: Number(v.temperature), nllBefore: NaN, nllAfter: NaN };
if (!(fit.temperature > 0)) throw new Error(`--temperature ${v.temperature}: expected fit or a number > 0`);
{
  const [k, b] = f.model.dense.getWeights();
  f.model.dense.setWeights([tf.div(k, fit.temperature), tf.div(b, fit.temperature)]);
}
const scoresBy = logits.map((z) => Array.from(scoresAt(z, fit.temperature)));
const rule = parseThresholdRule(v['threshold-rule']!);
const sel = sets[selection];
const report = validationReport(sel.truth.map(Boolean), scoresBy[selection], sel.groups, rule);
/** Every evaluation set at one threshold, with its saturated share. */
const reportSets = (scores: number[][], threshold: number, rule: string) =>
  sets.map((st, i) => ({
    name: st.name,
    images: st.items.length,
    variants: st.copies.length,
    report: reportAtThreshold(st.truth.map(Boolean), scores[i], st.groups, threshold, rule),
    saturated: saturatedShare(scores[i]),
  }));
const setReports = reportSets(scoresBy, report.threshold, report.rule);
const perShift = STRESS_VARIANTS.map((sv, k) => {
  const n = spec.val.length;
  const i = sets.findIndex((st) => st.name === 'stressed validation');
  const st = sets[i];
  return {
    name: sv.name,
    report: reportAtThreshold(
      st.truth.slice(k * n, (k + 1) * n).map(Boolean),
      scoresBy[i].slice(k * n, (k + 1) * n),
      st.groups.slice(k * n, (k + 1) * n),
      report.threshold,
      report.rule,
    ),
  };
});
log.info(
  {
    temperature: fit,
    threshold: report.threshold,
    sets: setReports.map((r) => ({ name: r.name, metrics: r.report.metrics, saturated: r.saturated })),
  },
  'validation of the exported weights',
);

// The model it replaces, on the same sets: at its own shipped threshold, and at the threshold the same rule picks on its stressed validation.
let compared: { name: string; threshold: number; atShipped: typeof setReports; atRule: ValidationReport } | undefined;
if (v.compare) {
  const old = await loadFinetuned(v.compare);
  try {
    const oldScores = (await setLogits(old.model)).map((z) => Array.from(scoresAt(z, 1)));
    compared = {
      name: `${old.meta.name} ${old.meta.version} (${old.meta.id})`,
      threshold: old.meta.threshold,
      atShipped: reportSets(oldScores, old.meta.threshold, 'shipped'),
      atRule: validationReport(sel.truth.map(Boolean), oldScores[selection], sel.groups, rule),
    };
  } finally {
    disposeSuffix(old.model);
  }
}
const val = await activationsForItems(fd, spec.data.bucket, spec.val, [0], layer);
const truth = spec.val.map((it) => it.label === 1);
const groups = spec.val.map((it) => it.group);
const scores = scoresBy[sets.findIndex((st) => st.name === 'validation')];

// Baseline: L2 logistic regression on the frozen ImageNet GAP features, penalty by patient-grouped CV
// (needs the stored training images' features: a warm-started strong run never computed them).
let baseline:
  { lambda: number; cvLoss: number; report: ValidationReport; aucGain: ReturnType<typeof aucGain> } | undefined;
if (v.baseline) {
  const trainSha = await activationsForItems(fd, spec.data.bucket, spec.train, [0], layer);
  const x = new Float32Array(spec.train.length * FEATURE_DIM);
  for (const [i, it] of spec.train.entries())
    x.set(await readFeature(featurePath(fd.featureRoot, bb, trainSha.sha.get(it)!, 0)), i * FEATURE_DIM);
  const base = fitLogRegCV(
    x,
    Uint8Array.from(spec.train, (it) => it.label),
    spec.train.map((it) => it.group),
    FEATURE_DIM,
    { seed: spec.seed },
  );
  const vx = new Float32Array(spec.val.length * FEATURE_DIM);
  for (const [i, it] of spec.val.entries())
    vx.set(await readFeature(featurePath(fd.featureRoot, bb, val.sha.get(it)!, 0)), i * FEATURE_DIM);
  const baseScores = Array.from(scoreLogReg(base, vx, FEATURE_DIM));
  const clean = setReports.find((r) => r.name === 'validation')!.report;
  baseline = {
    lambda: base.lambda,
    cvLoss: base.cvLoss,
    report: validationReport(truth, baseScores, groups, rule),
    aucGain: aucGain(truth, scores, baseScores, groups),
  };
  log.info(
    { lambda: base.lambda, baseline: baseline.report.metrics, gain: baseline.aucGain, clean: clean.metrics },
    'baseline',
  );
}

// Reference statistics on the held-out validation images: the model has fitted its training images, which
// therefore look unlike a new patient's to it (measured: adapting a matching site against a training-image
// reference shifted every score below the threshold).
const refItems = spec.val.slice(0, Number(v['reference-images']));
const batches: ActivationBatches = async function* () {
  for (let i = 0; i < refItems.length; i += 32) {
    const b = refItems.slice(i, i + 32);
    yield {
      x: await readActivationBatch(
        fd,
        layer,
        b.map((it) => ({ sha: val.sha.get(it)!, copy: 0 })),
      ),
      n: b.length,
    };
  }
};
const ref = await referenceStats(f, batches);

// Per-round training time from the run's committed metrics.
const rounds = [];
for (let e = 0; e <= (history.at(-1)?.epoch ?? epoch); e++) {
  const m = await getJsonIfExists<{
    shards: { seconds: number; samples?: number; vectors: number }[];
    mergeSeconds: number;
    mergedAt: string;
  }>(s3, l.bucket, l.epochMetrics(e));
  if (m)
    rounds.push({
      epoch: e,
      shardSeconds: m.shards.map((s) => s.seconds),
      mergeSeconds: m.mergeSeconds,
      mergedAt: m.mergedAt,
      imagesPerSec:
        e === 0
          ? undefined
          : m.shards.reduce((a, s) => a + (s.samples ?? 0), 0) / Math.max(...m.shards.map((s) => s.seconds)),
    });
}
f.meta.threshold = report.threshold;
f.meta.thresholdRule = report.rule;
const meta = await writeAdapted(
  f,
  ref,
  v.out!,
  { kind: 'reference statistics (validation images, labels unused)', images: refItems.length },
  spec.recipe.version,
);
const extra = {
  validation: {
    set: sel.name,
    ...report.metrics,
    rule: report.rule,
    threshold: report.threshold,
    patients: report.groups,
    intervals: report.intervals,
    sensitivityExact: report.sensitivityExact,
    replicates: report.replicates,
  },
  evaluation: setReports.map((r) => ({
    set: r.name,
    images: r.images,
    variants: r.variants,
    saturatedShare: r.saturated,
    ...r.report.metrics,
    intervals: r.report.intervals,
  })),
  calibration: {
    kind: 'temperature scaling',
    temperature: fit.temperature,
    fittedOn: sel.name,
    nllBefore: fit.nllBefore,
    nllAfter: fit.nllAfter,
  },
  ...(baseline ? { baseline: { kind: 'L2 logistic regression on frozen ImageNet GAP features', ...baseline } } : {}),
  ...(spec.holdout?.length
    ? {
        heldOut: {
          file: HELD_OUT_FILE,
          images: spec.holdout.length,
          patients: new Set(spec.holdout.map((it) => it.group)).size,
          note: 'patients that neither training nor checkpoint, threshold or temperature selection read',
        },
      }
    : {}),
  training: {
    runId,
    epoch,
    history,
    rounds,
    command: v.command,
    recipe: spec.recipe,
    shards: spec.shards,
    train: spec.train.length,
    val: spec.val.length,
    holdout: spec.holdout?.length ?? 0,
  },
};
if (spec.holdout?.length) {
  // The held-out patients' images by dataset path (CLASS/file), for `cxr demo` and for anyone who scores them.
  const dataPrefix = spec.data.prefix.replace(/\/?$/, '/');
  await writeFile(
    join(v.out!, HELD_OUT_FILE),
    JSON.stringify(
      {
        runId,
        data: `s3://${spec.data.bucket}/${dataPrefix}`,
        images: spec.holdout.map((it) => ({
          path: it.key.startsWith(dataPrefix) ? it.key.slice(dataPrefix.length) : it.key,
          label: it.label,
          patient: it.group,
        })),
      },
      null,
      1,
    ) + '\n',
  );
}
const metaPath = join(v.out!, 'metadata.json');
const full = JSON.parse(JSON.stringify({ ...JSON.parse(await readFile(metaPath, 'utf8')), ...extra })) as Record<
  string,
  unknown
> & { id: string }; // as it will be read back
full.id = await modelIdOfDir(v.out!, bb, full);
await writeFile(metaPath, JSON.stringify(full, null, 2) + '\n');
await writeFile(
  join(v.out!, 'training-history.json'),
  JSON.stringify(history.map((h) => ({ epoch: h.epoch, lr: h.lr, trainLoss: h.trainLoss, valLoss: h.valLoss }))) + '\n',
);
await writeFile(
  join(v.out!, 'MODEL_CARD.md'),
  renderFinetuneCard({
    id: full.id,
    name: meta.name,
    version: meta.version,
    threshold: report.threshold,
    trainFrom: f.model.trainFrom,
    backboneSha: bb,
    command: v.command!,
    recipe: spec.recipe as unknown as Record<string, unknown>,
    shards: spec.shards,
    train: spec.train.length,
    val: spec.val.length,
    history,
    epoch,
    rounds,
    validation: report,
    baseline,
    referenceImages: refItems.length,
    initFrom: spec.recipe.initFrom || undefined,
    holdout: spec.holdout?.length ?? 0,
    evaluation: { sets: setReports, perShift, temperature: fit, selectedOn: sel.name, compared },
    prefixImagesPerSec: v['prefix-images-per-sec'] ? Number(v['prefix-images-per-sec']) : undefined,
    notes: v.note as string[],
  }),
);
process.stdout.write(`${full.id} ${v.out}\n`);
s3.destroy();
await rm(dir, { recursive: true, force: true });
