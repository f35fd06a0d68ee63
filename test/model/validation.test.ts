import { describe, expect, it } from 'vitest';
import { groupByPatient, parseGroupBy, patientFromFileName, unionGroups } from '../../src/model/train/groups.js';
import { parseTrainArgs } from '../../src/model/train/options.js';
import { stratifiedSplit } from '../../src/model/train/split.js';
import {
  formatInterval,
  renderValidationTable,
  reportAtThreshold,
  validationReport,
} from '../../src/model/train/validation-report.js';
import { clopperPearson, requiredPositives } from '../../src/shared/binomial.js';
import { bootstrapMetrics, pairedAucDifference, weightedRocAuc } from '../../src/shared/bootstrap-intervals.js';
import { parseLabelsWithGroups } from '../../src/shared/labels.js';
import { rocAuc } from '../../src/shared/metrics.js';
import { seededRandom } from '../../src/shared/sampling.js';
import { splitRun } from '../../src/train-queue/plan-run.js';

describe('patient ids from file names', () => {
  it('parses the dataset naming and nothing else', () => {
    expect(patientFromFileName('train/PNEUMONIA/person1372_bacteria_3501.jpeg')).toBe('person1372');
    expect(patientFromFileName('person447_virus_921_1.jpeg')).toBe('person447');
    expect(patientFromFileName('NORMAL/IM-0429-0001-0002.jpeg')).toBe('IM-0429');
    expect(patientFromFileName('IM-0115-0001.jpeg')).toBe('IM-0115');
    expect(patientFromFileName('a/b/NORMAL2-IM-0587-0001-0001.jpeg')).toBe('NORMAL2-IM-0587');
    expect(patientFromFileName('scan-0001.jpeg')).toBeUndefined();
    expect(patientFromFileName('IM-0115/0001.jpeg')).toBeUndefined(); // the id is in the file name, not a folder
  });

  it('parses --group-by: keywords, a regex (first capture or whole match), bad regex named', () => {
    expect(parseGroupBy('auto').kind).toBe('auto');
    expect(parseGroupBy('none').kind).toBe('none');
    expect(() => parseGroupBy('(')).toThrow(/--group-by \(: not a regular expression/);
    const items = [
      { k: 'site1/p7/a.png', group: 'h1' },
      { k: 'site1/p7/b.png', group: 'h2' },
      { k: 'site1/p8/c.png', group: 'h3' },
    ];
    const g = groupByPatient(items, (i) => i.k, parseGroupBy('/(p\\d+)/'));
    expect(g.items.map((i) => i.group)).toEqual(['patient:p7', 'patient:p7', 'patient:p8']);
    expect(groupByPatient(items, (i) => i.k, parseGroupBy('p\\d+')).items[0].group).toBe('patient:p7');
    expect(() => groupByPatient(items, (i) => i.k, parseGroupBy('/(q\\d+)/'))).toThrow(
      /matched none of 3 keys \(e\.g\. site1\/p7\/a\.png\)/,
    );
    expect(parseTrainArgs(['--data', 'd']).groupBy).toBe('auto');
    expect(() => parseTrainArgs(['--data', 'd', '--group-by', '[a'])).toThrow(/--group-by/);
  });
});

describe('union-find grouping', () => {
  it('joins items transitively through any shared key', () => {
    expect(unionGroups([['a', 'x'], ['b', 'x'], ['b', 'y'], ['c'], ['d', 'y']])).toEqual(['a', 'a', 'a', 'c', 'a']);
  });

  it('joins patients that share byte-identical files, keeps the rest apart, counts fallbacks', () => {
    const items = [
      { key: 'person1_virus_1.jpeg', group: 'h1' },
      { key: 'person1_virus_2.jpeg', group: 'h2' },
      { key: 'person2_virus_3.jpeg', group: 'h2' }, // same bytes as a person1 image
      { key: 'IM-0001-0001.jpeg', group: 'h4' },
      { key: 'odd.jpeg', group: 'h5' },
      { key: 'odd-copy.jpeg', group: 'h5' },
    ];
    const g = groupByPatient(items, (i) => i.key, parseGroupBy('auto'));
    expect(g.items.map((i) => i.group)).toEqual([
      'patient:person1',
      'patient:person1',
      'patient:person1',
      'patient:IM-0001',
      'content:h5',
      'content:h5',
    ]);
    expect(g.stats).toMatchObject({
      patients: 3,
      fallbacks: 2,
      groups: 3,
      fallbackExamples: ['odd.jpeg', 'odd-copy.jpeg'],
    });
    const none = groupByPatient(items, (i) => i.key, parseGroupBy('none'));
    expect(new Set(none.items.map((i) => i.group)).size).toBe(4); // content identity only
    const explicit = groupByPatient(
      items,
      (i) => i.key,
      parseGroupBy('none'),
      new Map([
        ['odd.jpeg', 'P9'],
        ['IM-0001-0001.jpeg', 'P9'],
      ]),
    );
    expect(explicit.items[3].group).toBe(explicit.items[4].group);
  });
});

describe('stratified split of whole groups', () => {
  it('never splits a group, even one holding both classes', () => {
    const rand = seededRandom(3);
    const items = Array.from({ length: 600 }, (_, i) => ({
      i,
      group: `p${Math.floor(rand() * 150)}`,
      label: rand() < 0.7 ? 1 : 0,
    }));
    const s = stratifiedSplit(items, 0.2, 42);
    const valGroups = new Set(s.val.map((x) => x.group));
    expect(s.train.some((x) => valGroups.has(x.group))).toBe(false);
    expect(s.val.length).toBeGreaterThan(90);
    expect(s.val.length).toBeLessThan(150);
    expect(s.train.length + s.val.length).toBe(600);
  });

  it('splitRun groups S3 keys by patient (default) or by the labels file', () => {
    const keys = Array.from(
      { length: 200 },
      (_, i) => `x/${i % 2 ? 'PNEUMONIA' : 'NORMAL'}/person${Math.floor(i / 4)}_virus_${i}.jpeg`,
    );
    const items = keys.map((key, i) => ({ key, etag: `e${i}`, label: i % 2, group: `e${i}` }));
    const r = splitRun(items, { limit: 0, valFraction: 0.2, seed: 42, groupBy: 'auto' });
    const patient = (k: string) => /person\d+/.exec(k)![0];
    const valPatients = new Set(r.val.map((i) => patient(i.key)));
    expect(r.train.some((i) => valPatients.has(patient(i.key)))).toBe(false);
    expect(r.grouping).toMatchObject({ patients: 50, fallbacks: 0, groups: 50 });
    const byFile = splitRun(
      items,
      { limit: 0, valFraction: 0.2, seed: 42, groupBy: 'none' },
      new Map(keys.map((k, i) => [k, `site-${i % 10}`])),
    );
    const valSites = new Set(byFile.val.map((i) => Number(/_(\d+)\.jpeg/.exec(i.key)![1]) % 10));
    expect(byFile.train.every((i) => !valSites.has(Number(/_(\d+)\.jpeg/.exec(i.key)![1]) % 10))).toBe(true);
  });
});

describe('labels file with groups', () => {
  it('reads CSV key,label,group and JSON lines with "group"; names bad lines', () => {
    const csv = parseLabelsWithGroups('key,label,group\na.jpg,PNEUMONIA,p1\nb.jpg,0,p1\nc.jpg,1,\n');
    expect([...csv.labels]).toEqual([
      ['a.jpg', 'PNEUMONIA'],
      ['b.jpg', 'NORMAL'],
      ['c.jpg', 'PNEUMONIA'],
    ]);
    expect([...csv.groups]).toEqual([
      ['a.jpg', 'p1'],
      ['b.jpg', 'p1'],
    ]);
    const jl = parseLabelsWithGroups('{"key":"a","label":"NORMAL","group":"p2"}\n{"key":"b","label":"NORMAL"}\n');
    expect([...jl.groups]).toEqual([['a', 'p2']]);
    expect(() => parseLabelsWithGroups('{"key":"a","label":"NORMAL","group":3}', 'l.jsonl')).toThrow(
      /l.jsonl line 1: "group" must be a string/,
    );
    expect(() => parseLabelsWithGroups('a,1,p,extra', 'l.csv')).toThrow(
      /l.csv line 1: expected "key,label" or "key,label,group", got 4/,
    );
  });
});

describe('cluster bootstrap', () => {
  const rand = seededRandom(11);
  const n = 400;
  const truth = Array.from({ length: n }, () => rand() < 0.6);
  const scores = truth.map((t) => Math.min(1, Math.max(0, (t ? 0.65 : 0.35) + (rand() - 0.5) * 0.7)));

  it('weighted AUC equals rocAuc with unit weights and with rows repeated by integer weights', () => {
    const tied = scores.map((s) => Math.round(s * 10) / 10); // many ties
    expect(weightedRocAuc(truth, tied, new Array(n).fill(1))).toBeCloseTo(rocAuc(truth, tied)!, 12);
    const w = truth.map((_, i) => i % 3);
    const rep = (a: readonly (boolean | number)[]) => a.flatMap((v, i) => new Array(w[i]).fill(v));
    expect(weightedRocAuc(truth, tied, w)).toBeCloseTo(rocAuc(rep(truth) as boolean[], rep(tied) as number[])!, 12);
  });

  it('is seeded, brackets the point values, and is about binomial width for independent images', () => {
    const a = bootstrapMetrics(truth, scores, 0.5, undefined, { replicates: 1000, seed: 1 });
    expect(bootstrapMetrics(truth, scores, 0.5, undefined, { replicates: 1000, seed: 1 })).toEqual(a);
    for (const m of Object.values(a.metrics)) expect(m.lo! <= m.value! && m.value! <= m.hi!).toBe(true);
    const p = a.metrics.accuracy.value!;
    const width = a.metrics.accuracy.hi! - a.metrics.accuracy.lo!;
    expect(width / (2 * 1.96 * Math.sqrt((p * (1 - p)) / n))).toBeGreaterThan(0.8);
    expect(width / (2 * 1.96 * Math.sqrt((p * (1 - p)) / n))).toBeLessThan(1.2);
  });

  it('resamples patients: ten copies of each patient widen nothing when grouped, narrow the interval when not', () => {
    const rep = <T>(a: readonly T[]) => a.flatMap((v) => new Array<T>(10).fill(v));
    const groups = rep(truth.map((_, i) => `p${i}`));
    const base = bootstrapMetrics(truth, scores, 0.5, undefined, { replicates: 1000 });
    const clustered = bootstrapMetrics(rep(truth), rep(scores), 0.5, groups, { replicates: 1000 });
    const naive = bootstrapMetrics(rep(truth), rep(scores), 0.5, undefined, { replicates: 1000 });
    const w = (r: typeof base) => r.metrics.specificity.hi! - r.metrics.specificity.lo!;
    expect(clustered.groups).toBe(n);
    expect(w(clustered) / w(base)).toBeGreaterThan(0.85);
    expect(w(clustered) / w(base)).toBeLessThan(1.15);
    expect(w(naive) / w(base)).toBeLessThan(0.45); // ~1/sqrt(10)
  });

  it('paired AUC difference: zero for one model against itself, positive for a better one', () => {
    expect(pairedAucDifference(truth, scores, scores, undefined, { replicates: 200 })).toEqual({
      value: 0,
      lo: 0,
      hi: 0,
    });
    const better = scores.map((s, i) => (truth[i] ? s + 0.1 : s));
    const d = pairedAucDifference(truth, scores, better, undefined, { replicates: 500 });
    expect(d.value!).toBeGreaterThan(0);
    expect(d.lo!).toBeGreaterThan(0);
  });
});

describe('exact binomial bounds and the sample-size rule', () => {
  it('matches closed forms at the ends and a textbook value', () => {
    expect(clopperPearson(0, 10).hi).toBeCloseTo(1 - 0.025 ** (1 / 10), 6);
    expect(clopperPearson(10, 10).lo).toBeCloseTo(0.025 ** (1 / 10), 6);
    const mid = clopperPearson(5, 10);
    expect(mid.lo).toBeCloseTo(0.1871, 3);
    expect(mid.hi).toBeCloseTo(0.8129, 3);
    expect(() => clopperPearson(3, 2)).toThrow(/clopperPearson/);
  });

  it('needs more positives for a higher target or a tighter margin', () => {
    const n95 = requiredPositives(0.95, 0.05);
    expect(clopperPearson(Math.ceil(0.95 * n95), n95).lo).toBeGreaterThanOrEqual(0.9);
    expect(clopperPearson(Math.ceil(0.95 * (n95 - 1)), n95 - 1).lo).toBeLessThan(0.9 + 0.02); // close to the edge
    expect(requiredPositives(0.95, 0.03)).toBeGreaterThan(n95);
    expect(requiredPositives(0.9, 0.05)).toBeGreaterThan(n95); // 0.9 has more binomial variance than 0.95
  });
});

describe('validation report', () => {
  const truth = Array.from({ length: 300 }, (_, i) => i % 3 !== 0);
  const scores = truth.map((t, i) => (t ? 0.4 + ((i * 37) % 60) / 100 : ((i * 53) % 70) / 100));
  const groups = truth.map((_, i) => `p${Math.floor(i / 3)}`);

  it('picks the sens-target threshold and reports intervals over patients', () => {
    const r = validationReport(truth, scores, groups, { kind: 'sens-target', target: 0.95 }, { replicates: 300 });
    expect(r.rule).toBe('sens-target:0.95');
    expect(r.metrics.recall).toBeGreaterThanOrEqual(0.95);
    expect(r.groups).toBe(100);
    expect(r.sensitivityExact.lo).toBeLessThan(r.metrics.recall);
    const y = validationReport(truth, scores, groups, { kind: 'youden' }, { replicates: 300 });
    expect(y.rule).toBe('youden');
    expect(y.threshold).not.toBe(r.threshold);
  });

  it('renders value [95% CI] rows', () => {
    const r = reportAtThreshold(truth, scores, groups, 0.5, 'shipped', { replicates: 200 });
    expect(formatInterval('accuracy', { value: 0.975, lo: 0.961, hi: 0.986 })).toBe('97.5% [96.1, 98.6]');
    expect(formatInterval('rocAuc', { value: 0.99612, lo: 0.993, hi: null })).toBe('0.9961');
    const md = renderValidationTable([
      { name: 'this model', report: r },
      { name: 'baseline', report: r },
    ]);
    expect(md.split('\n')).toHaveLength(4);
    expect(md).toMatch(/\| this model \| shipped \| 0\.5000 \| \d+\.\d% \[\d+\.\d, \d+\.\d\] \|/);
  });
});
