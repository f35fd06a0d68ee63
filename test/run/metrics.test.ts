import { stripVTControlCharacters } from 'node:util';
import { describe, expect, it } from 'vitest';
import { binaryMetrics, confusionMatrix, definedRate, rocAuc } from '../../src/shared/metrics.js';
import { metricsTable } from '../../src/cli/metrics-table.js';
import type { RunMetrics } from '../../src/run/run-metrics.js';
import { seededRandom } from '../../src/shared/sampling.js';

/** AUC by comparing every positive with every negative: slow but obviously right. */
function bruteAuc(truth: boolean[], scores: number[]): number {
  let wins = 0;
  let pairs = 0;
  truth.forEach((t, i) => {
    if (!t) return;
    truth.forEach((u, j) => {
      if (u) return;
      pairs++;
      wins += scores[i] > scores[j] ? 1 : scores[i] === scores[j] ? 0.5 : 0;
    });
  });
  return wins / pairs;
}

describe('metrics', () => {
  it('counts the confusion matrix', () => {
    expect(confusionMatrix([true, true, false, false, true], [true, false, true, false, true])).toEqual({
      tp: 2,
      fn: 1,
      fp: 1,
      tn: 1,
    });
  });

  it('computes accuracy, precision, recall, specificity and F1 at a threshold', () => {
    const m = binaryMetrics([true, true, true, false, false], [0.9, 0.6, 0.2, 0.7, 0.1], 0.5);
    expect(m.confusion).toEqual({ tp: 2, fn: 1, fp: 1, tn: 1 });
    expect(m.accuracy).toBeCloseTo(3 / 5);
    expect(m.precision).toBeCloseTo(2 / 3);
    expect(m.recall).toBeCloseTo(2 / 3);
    expect(m.specificity).toBeCloseTo(1 / 2);
    expect(m.f1).toBeCloseTo(2 / 3);
  });

  it('marks rates with a zero denominator as undefined, and the tables print them as n/a', () => {
    // All NORMAL, all called NORMAL: no positive calls (precision) and no positive labels (recall, F1).
    const m = binaryMetrics([false, false, false], [0.1, 0.2, 0.3], 0.5);
    expect([m.precision, m.recall, m.f1]).toEqual([0, 0, 0]);
    expect(definedRate(m, 'precision')).toBeNull();
    expect(definedRate(m, 'recall')).toBeNull();
    expect(definedRate(m, 'f1')).toBeNull();
    expect(definedRate(m, 'specificity')).toBe(1);
    expect(definedRate(m, 'accuracy')).toBe(1);
    // A real zero stays a number: one positive label, missed.
    const missed = binaryMetrics([true, false], [0.1, 0.2], 0.5);
    expect(definedRate(missed, 'recall')).toBe(0);
    expect(definedRate(missed, 'f1')).toBe(0);
    expect(definedRate(missed, 'precision')).toBeNull();

    const run = {
      runId: 'r',
      backends: [],
      counts: { total: 3, scored: 3, failed: 0 },
      throughput: { endToEndImagesPerSec: 1, wallSeconds: 3, stages: {} },
      classification: m,
    } as unknown as RunMetrics;
    const row = (name: string) =>
      stripVTControlCharacters(metricsTable(run))
        .split('\n')
        .find((l) => l.includes(` ${name} `)) ?? '';
    expect(row('precision')).toMatch(/│ n\/a\s+│/);
    expect(row('F1')).toMatch(/│ n\/a\s+│/);
    expect(row('specificity')).toMatch(/│ 100\.0%\s+│/);
    expect(row('ROC AUC')).toMatch(/│ n\/a\s+│/);
  });

  it('matches a brute-force ROC AUC, ties included', () => {
    const rnd = seededRandom(7);
    for (let trial = 0; trial < 20; trial++) {
      const truth = Array.from({ length: 40 }, () => rnd() < 0.6);
      truth[0] = true;
      truth[1] = false;
      const scores = Array.from({ length: 40 }, () => Math.round(rnd() * 10) / 10);
      expect(rocAuc(truth, scores)).toBeCloseTo(bruteAuc(truth, scores), 10);
    }
  });

  it('has no AUC with one class only', () => {
    expect(rocAuc([true, true], [0.1, 0.2])).toBeNull();
  });

  it('takes decisions already made instead of a threshold', () => {
    const m = binaryMetrics([true, false], [0.4, 0.6], [true, false]);
    expect(m.accuracy).toBe(1);
    expect(m.rocAuc).toBe(0);
  });
});
