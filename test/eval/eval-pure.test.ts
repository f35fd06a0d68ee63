import { describe, expect, it } from 'vitest';
import { decideAlerts } from '../../src/eval/alert.js';
import { referenceFrom } from '../../src/eval/baseline.js';
import { histogram, ksStatistic, psi, summarizeScores } from '../../src/eval/drift.js';
import { dateIn, evalRunId, firingMillis } from '../../src/eval/firing.js';
import { parseHistory, formatHistory, previousEntry, upsertEntry } from '../../src/eval/history.js';
import type { HistoryEntry } from '../../src/eval/types.js';
import { trendPoints } from '../../src/eval/eval-report.js';

const limits = { margin: 0.02, psiLimit: 0.2, ksLimit: 0.2 };

describe('drift statistics', () => {
  it('summarizes scores with quantiles, positive rate and a 20-bin histogram', () => {
    const s = summarizeScores([0, 0.25, 0.5, 0.75, 1], 0.5);
    expect(s.n).toBe(5);
    expect(s.mean).toBeCloseTo(0.5);
    expect(s.quantiles[2]).toBe(0.5);
    expect(s.positiveRate).toBeCloseTo(3 / 5);
    expect(s.histogram).toHaveLength(20);
    expect(s.histogram[19]).toBe(1); // 1.0 falls in the last bin
    expect(s.histogram.reduce((a, b) => a + b, 0)).toBe(5);
  });

  it('PSI and KS are zero for the same distribution and grow with a shift', () => {
    const a = histogram([0.1, 0.2, 0.3, 0.8, 0.9]);
    expect(psi(a, a)).toBeCloseTo(0, 12);
    expect(ksStatistic(a, a)).toBeCloseTo(0, 12);
    const b = histogram([0.7, 0.8, 0.85, 0.9, 0.95]);
    expect(psi(a, b)).toBeGreaterThan(1);
    expect(ksStatistic(a, b)).toBeCloseTo(0.6, 10);
    // Scale does not matter, only shares.
    expect(
      psi(
        a,
        a.map((x) => x * 7),
      ),
    ).toBeCloseTo(0, 12);
    expect(() => psi([1], [1, 2])).toThrow();
  });
});

describe('alert decision', () => {
  const cur = {
    metrics: { recall: 0.9, specificity: 0.8, rocAuc: 0.95 },
    scores: summarizeScores([0.1, 0.2, 0.8, 0.9], 0.5),
  };

  it('no alert within the margin or without references', () => {
    expect(decideAlerts(cur, undefined, undefined, limits)).toEqual([]);
    const prev = { metrics: { recall: 0.915, specificity: 0.8, rocAuc: 0.96 }, scores: cur.scores };
    expect(decideAlerts(cur, prev, undefined, limits)).toEqual([]);
  });

  it('alerts on a drop larger than the margin, naming the metric and the reference', () => {
    const prev = { metrics: { recall: 0.95, specificity: 0.8, rocAuc: 0.95 } };
    const base = { metrics: { recall: 0.9, specificity: 0.85, rocAuc: 0.99 } };
    const alerts = decideAlerts(cur, prev, base, limits);
    expect(alerts.map((a) => [a.against, a.metric])).toEqual([
      ['previous', 'sensitivity'],
      ['baseline', 'specificity'],
      ['baseline', 'AUC'],
    ]);
    expect(alerts[0].message).toMatch(/sensitivity fell from 0.9500 to 0.9000/);
    // Improvements never alert.
    expect(decideAlerts(prev, cur, undefined, limits).filter((a) => a.metric === 'sensitivity')).toEqual([]);
  });

  it('alerts on a score-distribution shift above the PSI / KS limits', () => {
    const shifted = { metrics: cur.metrics, scores: summarizeScores([0.9, 0.92, 0.95, 0.99], 0.5) };
    const alerts = decideAlerts(shifted, cur, undefined, limits);
    expect(alerts.map((a) => a.metric).sort()).toEqual(['KS', 'PSI']);
    expect(alerts.every((a) => a.kind === 'distribution-shift' && a.value > a.limit)).toBe(true);
  });
});

describe('history and firing identity', () => {
  const entry = (date: string, name = 'nightly', recall = 0.9): HistoryEntry => ({
    date,
    name,
    runId: evalRunId(name, date),
    evaluatedAt: `${date}T02:00:00Z`,
    model: null,
    alerts: [],
    metrics: {
      n: 4,
      accuracy: 1,
      precision: 1,
      recall,
      specificity: 1,
      f1: 1,
      rocAuc: 1,
      confusion: { tp: 2, fp: 0, tn: 2, fn: 0 },
    },
    scores: summarizeScores([0.1, 0.9], 0.5),
  });

  it('a retried firing replaces its entry; previous is the latest earlier night of the same schedule', () => {
    let h = upsertEntry([], entry('2026-11-02'));
    h = upsertEntry(h, entry('2026-11-01'));
    h = upsertEntry(h, entry('2026-11-02', 'nightly', 0.5));
    h = upsertEntry(h, entry('2026-11-03', 'other'));
    expect(h.map((e) => e.date)).toEqual(['2026-11-01', '2026-11-02', '2026-11-03']);
    expect(h[1].metrics.recall).toBe(0.5);
    expect(previousEntry(h, 'nightly', '2026-11-03')?.date).toBe('2026-11-02');
    expect(previousEntry(h, 'nightly', '2026-11-01')).toBeUndefined();
    expect(parseHistory(formatHistory(h))).toEqual(h);
    expect(trendPoints(h.slice(0, 1)).map((p) => p.metric)).toEqual([
      'sensitivity',
      'specificity',
      'AUC',
      'positive rate',
    ]);
  });

  it('firing date comes from the scheduler job id, in the schedule time zone', () => {
    const millis = Date.UTC(2026, 10, 25, 23, 30); // 23:30 UTC = 00:30 next day in Berlin
    expect(firingMillis(`repeat:nightly:${millis}`, 5)).toBe(millis);
    expect(firingMillis('manual-1', 5)).toBe(5);
    expect(dateIn(millis)).toBe('2026-11-25');
    expect(dateIn(millis, 'Europe/Berlin')).toBe('2026-11-26');
    expect(evalRunId('nightly prod', '2026-11-26')).toBe('eval-nightly-prod-20261126');
  });

  it('a baseline is a history entry or a metrics.json', () => {
    expect(referenceFrom({ classification: { recall: 0.9, specificity: 0.8, rocAuc: 0.9 } }, 'x').metrics.recall).toBe(
      0.9,
    );
    const e = entry('2026-11-01');
    expect(referenceFrom(e, 'x').scores?.histogram).toHaveLength(20);
    expect(() => referenceFrom({ foo: 1 }, 'b.json')).toThrow(/baseline b.json/);
  });
});

describe('cron patterns are checked for their field count before cron-parser', () => {
  it('accepts 5 fields, 6 with seconds, and @macros; refuses anything cron-parser would pad', async () => {
    const { cronFieldProblem, cronPattern } = await import('../../src/cli/parse.js');
    for (const ok of ['0 2 * * *', '  0   2 * * 1-5 ', '30 0 2 * * *', '@daily'])
      expect(cronFieldProblem(ok)).toBeUndefined();
    expect(cronFieldProblem('* * *')).toBe(
      'a cron pattern has 5 fields (minute hour day-of-month month day-of-week), or 6 with seconds first; got 3',
    );
    expect(cronFieldProblem('0 0 2 * * * 2027')).toMatch(/got 7$/);
    expect(cronFieldProblem('')).toMatch(/got 0$/);
    // The flag parser refuses it too, before cron-parser could fill in the missing fields.
    expect(() => cronPattern('* * *')).toThrow(/^a cron pattern has 5 fields .*got 3; e\.g\. "0 2 \* \* \*"/);
    expect(() => cronPattern('61 * * * *')).toThrow(/^not a cron pattern/);
  });
});
