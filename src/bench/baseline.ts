// The L2 logistic-regression baseline (patient-grouped CV) against a shipped head, on the same
// patient-grouped validation images, with cluster-bootstrap 95% intervals. Needs cached copy-0 GAP
// features (features.ts layout; e.g. from dist/bench/onnx-features.js). Last stdout line: JSON.
// Usage: node dist/bench/baseline.js --data DIR --features DIR [--model DIR] [--seed 42] [--val-fraction 0.2]
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { backboneHash } from '../model/backbone.js';
import { defaultModelDir } from '../model/classifier.js';
import { readMetadata } from '../model/metadata.js';
import { listDataset, type ImageItem } from '../model/train/dataset.js';
import { groupByPatient, parseGroupBy } from '../model/train/groups.js';
import { scoreFeatures } from '../model/train/head-train.js';
import { loadFeatureSet } from '../model/train/load-features.js';
import { fitLogRegCV, scoreLogReg } from '../model/train/logreg.js';
import { stratifiedSplit } from '../model/train/split.js';
import {
  aucGain,
  renderValidationTable,
  reportAtThreshold,
  validationReport,
  type ValidationReport,
} from '../model/train/validation-report.js';
import { FEATURE_DIM } from '../model/train/features.js';

async function main(): Promise<void> {
  const { values: v } = parseArgs({
    options: {
      data: { type: 'string' },
      features: { type: 'string' },
      model: { type: 'string', default: defaultModelDir() },
      seed: { type: 'string', default: '42' },
      'val-fraction': { type: 'string', default: '0.2' },
    },
  });
  if (!v.data || !v.features) throw new Error('--data DIR and --features DIR are required');
  const seed = Number(v.seed);
  const frac = Number(v['val-fraction']);
  const bb = await backboneHash();
  const items = await listDataset(v.data);
  const grouped = groupByPatient(items, (i) => i.path, parseGroupBy('auto'));
  const split = stratifiedSplit(grouped.items, frac, seed);
  // The shipped head's own split: content identity only (what 1.0.0 trained with).
  const shippedSplit = stratifiedSplit(items, frac, seed);
  const shippedTrain = new Set(shippedSplit.train.map((i) => i.path));
  const patientOf = new Map(grouped.items.map((i) => [i.path, i.group]));
  const shippedTrainPatients = new Set(shippedSplit.train.map((i) => patientOf.get(i.path)));

  const train = await loadFeatureSet(split.train, [0], v.features, bb, false);
  const val = await loadFeatureSet(split.val, [0], v.features, bb, false);
  const t0 = Date.now();
  const lr = fitLogRegCV(train.set.x, train.set.y, train.groups, FEATURE_DIM, { seed });
  const fitSeconds = (Date.now() - t0) / 1000;

  const meta = await readMetadata(v.model);
  const w = new Float32Array((await readFile(join(v.model, 'weights.bin'))).buffer.slice(0));
  const shippedScores = Array.from(scoreFeatures(val.set, w.subarray(0, FEATURE_DIM), w[FEATURE_DIM]));
  const baseScores = Array.from(scoreLogReg(lr, val.set.x, FEATURE_DIM));
  const truth = Array.from(val.set.y, (y) => y === 1);

  /** Both models on a subset of the validation rows. */
  const compare = (name: string, keep: (it: ImageItem) => boolean) => {
    const rows = split.val.map((it, i) => (keep(it) ? i : -1)).filter((i) => i >= 0);
    const pick = <T>(a: readonly T[]) => rows.map((i) => a[i]);
    const [t, g, s1, s2] = [pick(truth), pick(val.groups), pick(shippedScores), pick(baseScores)];
    const r: Record<string, ValidationReport> = {
      [`${meta.name} ${meta.version} at its shipped threshold`]: reportAtThreshold(
        t,
        s1,
        g,
        meta.threshold,
        meta.thresholdRule,
      ),
      [`${meta.name} ${meta.version}, sens-target:0.95 here`]: validationReport(t, s1, g, {
        kind: 'sens-target',
        target: 0.95,
      }),
      [`baseline (lambda ${lr.lambda}), sens-target:0.95 here`]: validationReport(t, s2, g, {
        kind: 'sens-target',
        target: 0.95,
      }),
    };
    const gain = aucGain(t, s2, s1, g);
    process.stdout.write(
      `\n### ${name}: ${rows.length} images, ${new Set(g).size} patients\n${renderValidationTable(Object.entries(r).map(([n, report]) => ({ name: n, report })))}\n` +
        `AUC(baseline) - AUC(${meta.version}): ${gain.value?.toFixed(4)} [${gain.lo?.toFixed(4)}, ${gain.hi?.toFixed(4)}] (paired patient bootstrap)\n`,
    );
    return {
      name,
      images: rows.length,
      patients: new Set(g).size,
      aucGain: gain,
      reports: Object.fromEntries(
        Object.entries(r).map(([n, x]) => [n, { threshold: x.threshold, metrics: x.metrics, intervals: x.intervals }]),
      ),
    };
  };

  process.stdout.write(
    `patients: ${grouped.stats.patients} (${grouped.stats.fallbacks} images without an id), groups ${grouped.stats.groups}; ` +
      `split seed ${seed}: train ${split.train.length} images, val ${split.val.length} images (${new Set(val.groups).size} patients)\n` +
      `baseline: lambda ${lr.lambda} (cv log-loss ${lr.cvLoss.toFixed(4)}, ${lr.folds} grouped folds), fit ${fitSeconds.toFixed(0)} s; grid ` +
      lr.grid.map((g) => `${g.lambda}:${g.cvLoss.toFixed(4)}`).join(' ') +
      '\n',
  );
  const all = compare('all patient-grouped validation images (1.0.0 trained on some of them)', () => true);
  const unseenImages = compare("validation images outside 1.0.0's training split", (it) => !shippedTrain.has(it.path));
  const unseenPatients = compare(
    'validation patients none of whose images 1.0.0 trained on',
    (it) => !shippedTrainPatients.has(patientOf.get(it.path)),
  );
  process.stdout.write(
    JSON.stringify({
      grouping: grouped.stats,
      lambda: lr.lambda,
      cvLoss: lr.cvLoss,
      grid: lr.grid.map((g) => ({ lambda: g.lambda, cvLoss: g.cvLoss })),
      fitSeconds,
      comparisons: [all, unseenImages, unseenPatients],
    }) + '\n',
  );
}

main().catch((err: unknown) => {
  process.stderr.write(`baseline: ${(err as Error)?.stack ?? String(err)}\n`);
  process.exit(1);
});
