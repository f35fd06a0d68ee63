import { mkdtempSync, rmSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { ImageItem } from '../../src/model/train/dataset.js';
import { FEATURE_DIM, featurePath, writeFeature } from '../../src/model/train/features.js';
import { groupByPatient, parseGroupBy } from '../../src/model/train/groups.js';
import { parseTrainArgs } from '../../src/model/train/options.js';
import { planFeatures } from '../../src/model/train/plan.js';
import { runTraining } from '../../src/model/train/run.js';
import { loadOodModel } from '../../src/model/ood/stats-file.js';
import { createLogger } from '../../src/shared/logger.js';
import { seededRandom } from '../../src/shared/sampling.js';

/** The single-process recipe on a synthetic feature cache: patient-grouped split, intervals and baseline in the card. */
describe('single-process recipe: validation with intervals and the baseline', () => {
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'cxr-card-'));
  afterAll(() => rmSync(tmp, { recursive: true, force: true }));

  it('writes a card with value [95% CI] rows for the model and the baseline, and the patient grouping', async () => {
    const rand = seededRandom(4);
    const bb = 'f'.repeat(64);
    const root = path.join(tmp, 'features');
    const raw: ImageItem[] = [];
    for (let i = 0; i < 160; i++) {
      const label = i % 3 === 0 ? 0 : 1;
      const sha256 = i.toString(16).padStart(64, '0');
      const v = Float32Array.from(
        { length: FEATURE_DIM },
        (_, j) => (j < 8 ? (label ? 0.8 : -0.8) : 0) + rand() * 2 - 1,
      );
      await writeFeature(featurePath(root, bb, sha256, 0), v);
      raw.push({
        path: `/d/${label ? 'PNEUMONIA' : 'NORMAL'}/person${Math.floor(i / 2)}_virus_${i}.jpeg`,
        label,
        sha256,
        group: sha256,
      });
    }
    const grouped = groupByPatient(raw, (i) => i.path, parseGroupBy('auto'));
    const out = path.join(tmp, 'model');
    const opts = parseTrainArgs([
      '--data',
      '/d',
      '--out',
      out,
      '--epochs',
      '3',
      '--min-epochs',
      '1',
      '--augment-copies',
      '0',
      '--batch-size',
      '32',
    ]);
    const plan = planFeatures(grouped.items, opts.valFraction, 0, opts.seed);
    const meta = await runTraining({
      opts,
      plan,
      featureRoot: root,
      backboneHash: bb,
      logger: createLogger({ role: 'test' }),
      grouping: grouped.stats,
    });

    expect(meta.thresholdRule).toBe('sens-target:0.95');
    const v = meta.validation as {
      recall: number;
      intervals: Record<string, { lo: number; hi: number; value: number }>;
      patients: number;
    };
    expect(v.recall).toBeGreaterThanOrEqual(0.95);
    expect(v.patients).toBe(new Set(plan.split.val.map((i) => i.group)).size);
    expect(v.intervals.rocAuc.lo).toBeLessThanOrEqual(v.intervals.rocAuc.value);
    const b = meta.baseline as { lambda: number; validation: { rocAuc: number }; aucGain: { value: number } };
    expect(b.lambda).toBeGreaterThan(0);
    expect(b.validation.rocAuc).toBeGreaterThan(0.9);

    const card = await readFile(path.join(out, 'MODEL_CARD.md'), 'utf8');
    expect(card).toContain('grouped by patient (patient ids parsed from the file names');
    expect(card).toContain('80 patients, 0 images without an id kept alone');
    expect(card).toMatch(/\| this model \| sens-target:0\.95 \| [\d.]+ \| [\d.]+% \[[\d.]+, [\d.]+\] \|/);
    expect(card).toMatch(/\| baseline: L2 logistic regression \(lambda [\d.e-]+\) \| sens-target:0\.95 \|/);
    expect(card).toMatch(/ROC AUC over the baseline \(paired patient bootstrap\): [+-]\d\.\d{4} \[/);
    expect(card).toContain(`--group-by 'auto'`);
    // The OOD guard is fitted on the same training features, its threshold on validation, bound to these weights.
    const ood = await loadOodModel(out);
    expect(ood?.meta).toMatchObject({
      modelId: meta.id,
      dim: FEATURE_DIM,
      fitImages: plan.split.train.length,
      thresholdImages: plan.split.val.length,
    });
    expect(ood!.meta.threshold).toBeGreaterThan(0);
    expect(ood!.meta.shrinkage).toBeGreaterThan(0); // fewer images than dimensions: shrinkage carries the fit
    // no patient on both sides
    const valGroups = new Set(plan.split.val.map((i) => i.group));
    expect(plan.split.train.some((i) => valGroups.has(i.group))).toBe(false);
  });
});
