// Turns a fine-tune run's checkpoint into the shipped model folder: re-validates the exported (float16)
// weights on the run's patient-grouped validation split with bootstrap intervals, picks the operating
// point for the target sensitivity, fits the logistic-regression baseline on the frozen features, measures
// the training images' reference statistics (for `models adapt`), and writes metadata + MODEL_CARD.md.
// node dist/model/finetune/ship-main.js --run s3://B/runs/RUN --epoch E --out models/pneumonia-resnet50 [--command "..."]
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { loadConfig } from '../../shared/config.js';
import { createLogger } from '../../shared/logger.js';
import { getJsonIfExists } from '../../shared/s3/objects.js';
import { createS3Client } from '../../shared/s3/client.js';
import { parseS3Uri } from '../../shared/s3/uri.js';
import { activationsForItems, readActivationBatch } from '../../train-queue/finetune/activations-s3.js';
import { trainLayout } from '../../train-queue/layout.js';
import type { HistoryEntry, TrainRunSpec } from '../../train-queue/types.js';
import { ensureBackbone } from '../backbone-fetch.js';
import { backboneHash } from '../backbone.js';
import { cachedS3Model } from '../io/s3-io.js';
import { modelIdOfDir } from '../model-id.js';
import { PREFIX_TOP } from '../resnet50.js';
import { defaultFeatureDir, featurePath, FEATURE_DIM, readFeature } from '../train/features.js';
import { fitLogRegCV, scoreLogReg } from '../train/logreg.js';
import { parseThresholdRule } from '../train/options.js';
import { aucGain, validationReport } from '../train/validation-report.js';
import { renderFinetuneCard } from './finetune-card.js';
import { loadFinetuned, referenceStats, writeAdapted } from './adapt.js';
import { defaultActivationDir } from './activations.js';
import type { ActivationBatches } from './site-stats.js';
import { ensureTrainingBackend } from './training-backend.js';
import { predictBatch } from './finetune-step.js';
import * as tf from '@tensorflow/tfjs';

const { values: v } = parseArgs({ options: {
  run: { type: 'string' }, epoch: { type: 'string' }, out: { type: 'string', default: 'models/pneumonia-resnet50' },
  'threshold-rule': { type: 'string', default: 'sens-target:0.95' }, 'reference-images': { type: 'string', default: '1000' }, command: { type: 'string', default: '' },
  note: { type: 'string', multiple: true, default: [] }, 'prefix-images-per-sec': { type: 'string' },
} });
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
const dir = await cachedS3Model(s3, `s3://${l.bucket}/${l.epochDir(epoch)}/`, await mkdtemp(join(tmpdir(), 'cxr-ship-')));
const f = await loadFinetuned(dir);
const layer = PREFIX_TOP[f.model.trainFrom]!;
const bb = await backboneHash();
const fd = { s3, logger: log, featureRoot: defaultFeatureDir(), activationRoot: defaultActivationDir(), backboneHash: bb, backboneDir: () => ensureBackbone(undefined, { logger: log }) };

// Validation scores of the exported weights (raw Dense on GAP features: identity standardisation).
const val = await activationsForItems(fd, spec.data.bucket, spec.val, [0], layer);
const id = { mean: tf.zeros([FEATURE_DIM]), std: tf.ones([FEATURE_DIM]) };
const scores: number[] = [];
for (let i = 0; i < spec.val.length; i += 32) {
  const b = spec.val.slice(i, i + 32);
  scores.push(...predictBatch(f.model, id, await readActivationBatch(fd, layer, b.map((it) => ({ sha: val.sha.get(it)!, copy: 0 }))), b.length));
}
const truth = spec.val.map((it) => it.label === 1);
const groups = spec.val.map((it) => it.group);
const rule = parseThresholdRule(v['threshold-rule']!);
const report = validationReport(truth, scores, groups, rule);
log.info({ threshold: report.threshold, metrics: report.metrics }, 'validation of the exported weights');

// Baseline: L2 logistic regression on the frozen ImageNet GAP features, penalty by patient-grouped CV.
const trainSha = await activationsForItems(fd, spec.data.bucket, spec.train, [0], layer);
const x = new Float32Array(spec.train.length * FEATURE_DIM);
for (const [i, it] of spec.train.entries()) x.set(await readFeature(featurePath(fd.featureRoot, bb, trainSha.sha.get(it)!, 0)), i * FEATURE_DIM);
const base = fitLogRegCV(x, Uint8Array.from(spec.train, (it) => it.label), spec.train.map((it) => it.group), FEATURE_DIM, { seed: spec.seed });
const vx = new Float32Array(spec.val.length * FEATURE_DIM);
for (const [i, it] of spec.val.entries()) vx.set(await readFeature(featurePath(fd.featureRoot, bb, val.sha.get(it)!, 0)), i * FEATURE_DIM);
const baseScores = Array.from(scoreLogReg(base, vx, FEATURE_DIM));
const baseReport = validationReport(truth, baseScores, groups, rule);
const gain = aucGain(truth, scores, baseScores, groups);
log.info({ lambda: base.lambda, baseline: baseReport.metrics, gain }, 'baseline');

// Reference statistics on the held-out validation images: the model has fitted its training images, which
// therefore look unlike a new patient's to it (measured: adapting a matching site against a training-image
// reference shifted every score below the threshold).
const refItems = spec.val.slice(0, Number(v['reference-images']));
const batches: ActivationBatches = async function* () {
  for (let i = 0; i < refItems.length; i += 32) {
    const b = refItems.slice(i, i + 32);
    yield { x: await readActivationBatch(fd, layer, b.map((it) => ({ sha: val.sha.get(it)!, copy: 0 }))), n: b.length };
  }
};
const ref = await referenceStats(f, batches);

// Per-round training time from the run's committed metrics.
const rounds = [];
for (let e = 0; e <= (history.at(-1)?.epoch ?? epoch); e++) {
  const m = await getJsonIfExists<{ shards: { seconds: number; samples?: number; vectors: number }[]; mergeSeconds: number; mergedAt: string }>(s3, l.bucket, l.epochMetrics(e));
  if (m) rounds.push({ epoch: e, shardSeconds: m.shards.map((s) => s.seconds), mergeSeconds: m.mergeSeconds, mergedAt: m.mergedAt, imagesPerSec: e === 0 ? undefined : m.shards.reduce((a, s) => a + (s.samples ?? 0), 0) / Math.max(...m.shards.map((s) => s.seconds)) });
}
f.meta.threshold = report.threshold;
f.meta.thresholdRule = report.rule;
const meta = await writeAdapted(f, ref, v.out!, { kind: 'reference statistics (validation images, labels unused)', images: refItems.length }, spec.recipe.version);
const extra = {
  validation: { ...report.metrics, rule: report.rule, threshold: report.threshold, patients: report.groups, intervals: report.intervals, sensitivityExact: report.sensitivityExact, replicates: report.replicates },
  baseline: { kind: 'L2 logistic regression on frozen ImageNet GAP features', lambda: base.lambda, cvLoss: base.cvLoss, report: baseReport, aucGain: gain },
  training: { runId, epoch, history, rounds, command: v.command, recipe: spec.recipe, shards: spec.shards, train: spec.train.length, val: spec.val.length },
};
const metaPath = join(v.out!, 'metadata.json');
const full = JSON.parse(JSON.stringify({ ...JSON.parse(await readFile(metaPath, 'utf8')), ...extra })) as Record<string, unknown> & { id: string }; // as it will be read back
full.id = await modelIdOfDir(v.out!, bb, full);
await writeFile(metaPath, JSON.stringify(full, null, 2) + '\n');
await writeFile(join(v.out!, 'training-history.json'), JSON.stringify(history.map((h) => ({ epoch: h.epoch, lr: h.lr, trainLoss: h.trainLoss, valLoss: h.valLoss }))) + '\n');
await writeFile(join(v.out!, 'MODEL_CARD.md'), renderFinetuneCard({
  id: full.id, name: meta.name, version: meta.version, threshold: report.threshold, trainFrom: f.model.trainFrom, backboneSha: bb, command: v.command!,
  recipe: spec.recipe as unknown as Record<string, unknown>, shards: spec.shards, train: spec.train.length, val: spec.val.length, history, epoch, rounds,
  validation: report, baseline: { lambda: base.lambda, report: baseReport, aucGain: gain }, referenceImages: refItems.length,
  prefixImagesPerSec: v['prefix-images-per-sec'] ? Number(v['prefix-images-per-sec']) : undefined, notes: v.note as string[],
}));
process.stdout.write(`${full.id} ${v.out}\n`);
s3.destroy();
await rm(dir, { recursive: true, force: true });
