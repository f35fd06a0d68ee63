import * as tf from '@tensorflow/tfjs';
import { readFile, writeFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { binaryMetrics } from '../../shared/metrics.js';
import type { Logger } from '../../shared/logger.js';
import { repoRoot } from '../../shared/paths.js';
import { BACKBONE_PACKAGE, defaultSumsFile } from '../backbone-fetch.js';
import { buildHead, setHeadDense } from '../head.js';
import { fsIO } from '../io/fs-io.js';
import type { HeadMetadata } from '../metadata.js';
import { computeModelId } from '../model-id.js';
import { fitOod, OOD_PERCENTILE, writeOodStats } from '../ood/fit.js';
import { CLASS_NAMES } from './dataset.js';
import { scoreFeatures, trainHead } from './head-train.js';
import { loadFeatureSet } from './load-features.js';
import { renderModelCard } from './model-card.js';
import type { TrainOptions } from './options.js';
import type { Plan } from './plan.js';
import type { GroupStats } from './groups.js';
import { fitLogRegCV, scoreLogReg } from './logreg.js';
import { aucGain, ruleText, validationReport } from './validation-report.js';

export interface RunInput {
  opts: TrainOptions;
  plan: Plan;
  featureRoot: string;
  backboneHash: string;
  logger: Logger;
  /** How items were grouped by patient before the split. */
  grouping?: GroupStats;
}

/** Reproduce command with every option spelled out. */
export function reproduceCommand(o: TrainOptions): string {
  return [
    'node dist/model/train/main.js',
    `--data ${o.data}`,
    `--out ${o.out}`,
    `--seed ${o.seed}`,
    `--val-fraction ${o.valFraction}`,
    `--augment-copies ${o.augmentCopies}`,
    `--class-weights ${o.classWeights}`,
    `--optimizer ${o.optimizer}`,
    `--lr ${o.lr}`,
    `--batch-size ${o.batchSize}`,
    `--epochs ${o.epochs}`,
    `--lr-schedule ${o.lrSchedule}`,
    `--clip-norm ${o.clipNorm}`,
    `--weight-decay ${o.weightDecay}`,
    `--dropout ${o.dropout}`,
    `--min-epochs ${o.minEpochs}`,
    `--patience ${o.patience}`,
    `--threshold-rule ${ruleText(o.thresholdRule)}`,
    `--group-by '${o.groupBy}'`,
    `--limit ${o.limit}`,
    `--workers ${o.workers}`,
  ].join(' \\\n  ');
}

async function readExtractionRuns(
  root: string,
  bbHash: string,
): Promise<{ computed: number; seconds: number; workers: number }[]> {
  const text = await readFile(join(root, bbHash.slice(0, 16), 'extract-runs.jsonl'), 'utf8').catch(() => '');
  return text
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as { computed: number; seconds: number; workers: number });
}

/** Trains the head on cached features, picks the threshold, evaluates, and writes the model folder. */
export async function runTraining({
  opts,
  plan,
  featureRoot,
  backboneHash,
  logger: log,
  grouping,
}: RunInput): Promise<HeadMetadata> {
  const copies = Array.from({ length: opts.augmentCopies + 1 }, (_, c) => c);
  const allow = opts.featuresReadyOnly;
  const train = await loadFeatureSet(plan.split.train, copies, featureRoot, backboneHash, allow);
  const val = await loadFeatureSet(plan.split.val, [0], featureRoot, backboneHash, allow);
  const train0 = await loadFeatureSet(plan.split.train, [0], featureRoot, backboneHash, allow);
  log.info(
    { train: train.set.n, trainByCopy: train.byCopy, val: val.set.n, missing: train.missing + val.missing },
    'features loaded',
  );
  if (train.set.n < 10 || val.set.n < 4)
    throw new Error(`too few cached features (train ${train.set.n}, val ${val.set.n})`);
  const extractionBackend = 'wasm (tfjs-backend-wasm, SIMD, 1 thread per process)';
  await tf.setBackend('cpu'); // a 2048->1 dense layer: the pure-JS backend is plenty and has every gradient
  const result = trainHead(train.set, val.set, { ...opts, seed: opts.seed }, log);
  log.info(
    {
      bestEpoch: result.bestEpoch,
      epochs: result.epochsRun,
      seconds: result.seconds,
      samplesPerSec: result.samplesPerSec,
    },
    'head trained',
  );
  const valScores = scoreFeatures(val.set, result.kernel, result.bias);
  const valTruth = Array.from(val.set.y, (v) => v === 1);
  const report = validationReport(valTruth, Array.from(valScores), val.groups, opts.thresholdRule, { seed: opts.seed });
  const th = { threshold: report.threshold, rule: report.rule };
  const valM = report.metrics;
  const trScores = scoreFeatures(train0.set, result.kernel, result.bias);
  const trainM = binaryMetrics(
    Array.from(train0.set.y, (v) => v === 1),
    Array.from(trScores),
    th.threshold,
  );
  log.info({ threshold: th, val: valM, intervals: report.intervals }, 'validation');
  const lr = fitLogRegCV(train0.set.x, train0.set.y, train0.groups, train0.set.dim, { seed: opts.seed });
  const lrScores = Array.from(scoreLogReg(lr, val.set.x, val.set.dim));
  const baseline = validationReport(valTruth, lrScores, val.groups, opts.thresholdRule, { seed: opts.seed });
  const gain = aucGain(valTruth, Array.from(valScores), lrScores, val.groups, { seed: opts.seed });
  log.info(
    { lambda: lr.lambda, cvLoss: lr.cvLoss, val: baseline.metrics, aucGain: gain },
    'baseline: L2 logistic regression',
  );

  const head = buildHead(opts.dropout);
  setHeadDense(head, result.kernel, result.bias);
  await head.save(fsIO(opts.out));
  head.dispose();
  // interim = some un-augmented image is missing; missing augmented copies are only reported
  const partial = train.byCopy[0] < plan.split.train.length || val.set.n < plan.split.val.length;
  const meta: HeadMetadata = {
    id: '',
    name: 'pneumonia-resnet50',
    version: opts.version,
    threshold: th.threshold,
    thresholdRule: th.rule,
    classNames: [...CLASS_NAMES] as [string, string],
    inputSize: 224,
    backbone: {
      package: BACKBONE_PACKAGE,
      sumsFile: relative(repoRoot(), defaultSumsFile()),
      sha256: backboneHash,
      featureLayer: 'activation_48',
    },
    head: {
      layers: ['GlobalAveragePooling2D', `Dropout(${opts.dropout})`, 'Dense(1, sigmoid)'],
      trainedOn: 'cached GAP features',
    },
    recipe: { ...opts, thresholdRule: th.rule, data: opts.data },
    training: {
      bestEpoch: result.bestEpoch,
      epochsRun: result.epochsRun,
      seconds: result.seconds,
      classWeight: result.classWeight,
      partial,
    },
    split: {
      seed: opts.seed,
      valFraction: opts.valFraction,
      train: plan.split.train.length,
      val: plan.split.val.length,
    },
    grouping: grouping ?? null,
    validation: {
      ...valM,
      sensitivityAtThreshold: valM.recall,
      specificityAtThreshold: valM.specificity,
      intervals: report.intervals,
      patients: report.groups,
      bootstrapReplicates: report.replicates,
      sensitivityExact: report.sensitivityExact,
    },
    baseline: {
      kind: 'L2 logistic regression, lambda by patient-grouped CV',
      lambda: lr.lambda,
      cvLoss: lr.cvLoss,
      folds: lr.folds,
      threshold: baseline.threshold,
      validation: { ...baseline.metrics, intervals: baseline.intervals },
      aucGain: gain,
    },
    createdAt: new Date().toISOString(),
  };
  const weights = await readFile(join(opts.out, 'weights.bin'));
  meta.id = computeModelId(backboneHash, weights, meta);
  await writeFile(join(opts.out, 'metadata.json'), JSON.stringify(meta, null, 2) + '\n');
  await writeFile(join(opts.out, 'training-history.json'), JSON.stringify(result.history) + '\n');
  // OOD guard on the same pooled features: fitted on the training images, threshold on validation.
  const ood = fitOod(train0.set.x, train0.set.n, val.set.x, val.set.n, train0.set.dim);
  const oodMeta = await writeOodStats(opts.out, ood, {
    modelId: meta.id,
    featureLayer: 'avg_pool',
    fitImages: train0.set.n,
    thresholdImages: val.set.n,
    data: opts.data ?? '',
    thresholdRule: `p${OOD_PERCENTILE} of validation distances`,
  });
  log.info({ threshold: oodMeta.threshold, shrinkage: oodMeta.shrinkage }, 'OOD stats fitted');
  const card = renderModelCard({
    meta,
    opts,
    command: reproduceCommand(opts),
    counts: {
      images: plan.split.train.length + plan.split.val.length,
      train: plan.split.train.length,
      val: plan.split.val.length,
      trainVectors: train.set.n,
      valVectors: val.set.n,
      missing: train.missing + val.missing,
      trainByCopy: train.byCopy,
    },
    val: valM,
    train: trainM,
    result,
    extraction: await readExtractionRuns(featureRoot, backboneHash),
    backend: { extraction: extractionBackend, head: 'cpu (tfjs pure JS)' },
    partial,
    validation: {
      rows: [
        { name: 'this model', report },
        { name: `baseline: L2 logistic regression (lambda ${lr.lambda})`, report: baseline },
      ],
      aucGain: gain,
      grouping,
    },
  });
  await writeFile(join(opts.out, 'MODEL_CARD.md'), card);
  log.info({ out: opts.out, id: meta.id }, 'model written');
  return meta;
}
