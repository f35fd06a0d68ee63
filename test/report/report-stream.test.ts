import { describe, expect, it } from 'vitest';
import type { CurvePoint } from '../../src/shared/metrics.js';
import { curveFromSorted } from '../../src/shared/metrics.js';
import { seededRandom } from '../../src/shared/sampling.js';
import type { PredictionLine } from '../../src/run/types.js';
import { renderSvg } from '../../src/report/render.js';
import { scoreHistogramSpec, type VlSpec } from '../../src/report/chart-specs.js';
import { SamplePicker, TopK, type SamplePick } from '../../src/report/samples.js';
import { ScoreHistogram } from '../../src/report/score-histogram.js';
import { MAX_CURVE_POINTS, thinCurve } from '../../src/report/thin-curve.js';

/** The report's pick before it streamed: every labelled prediction sorted (the oracle). */
function pickSamplesBySort(
  predictions: readonly PredictionLine[],
  opts: { gridRight?: number; gridWrong?: number; cams?: number } = {},
): SamplePick {
  const { gridRight = 8, gridWrong = 8, cams = 4 } = opts;
  const correct = (p: PredictionLine) => p.trueLabel === p.label;
  const confidence = (p: PredictionLine) => Math.abs(p.probability - p.threshold);
  const labelled = predictions.filter((p) => p.trueLabel !== undefined);
  const byConfidence = [...labelled].sort((a, b) => confidence(b) - confidence(a) || a.key.localeCompare(b.key));
  const wrong = byConfidence.filter((p) => !correct(p));
  const right = byConfidence.filter(correct);
  const rightPos = right.filter((p) => p.label === 'PNEUMONIA');
  const rightNeg = right.filter((p) => p.label === 'NORMAL');
  const half = Math.ceil(gridRight / 2);
  const rightPick = [
    ...rightPos.slice(0, half),
    ...rightNeg.slice(0, gridRight - Math.min(half, rightPos.length)),
  ].slice(0, gridRight);
  return {
    grid: [
      ...rightPick.map((p) => ({ prediction: p, correct: true })),
      ...wrong.slice(0, gridWrong).map((p) => ({ prediction: p, correct: false })),
    ],
    confident: rightPos.slice(0, cams),
    errors: wrong.slice(0, cams),
  };
}

/** The curve points before they streamed: one [score, label] pair a key, sorted (the oracle). */
function curvePointsBySort(truth: readonly boolean[], scores: readonly number[]): CurvePoint[] {
  const pos = truth.filter(Boolean).length;
  const neg = truth.length - pos;
  const order = scores.map((s, i) => [s, truth[i]] as const).sort((a, b) => b[0] - a[0]);
  const points: CurvePoint[] = [{ threshold: Infinity, fpr: 0, tpr: 0, precision: 1 }];
  let tp = 0;
  let fp = 0;
  for (let i = 0; i < order.length;) {
    const s = order[i][0];
    while (i < order.length && order[i][0] === s) {
      if (order[i++][1]) tp++;
      else fp++;
    }
    points.push({ threshold: s, fpr: fp / neg, tpr: tp / pos, precision: tp / (tp + fp) });
  }
  return points;
}

const sortedSplit = (truth: readonly boolean[], scores: readonly number[]) => ({
  pos: Float32Array.from(scores.filter((_, i) => truth[i])).sort(),
  neg: Float32Array.from(scores.filter((_, i) => !truth[i])).sort(),
});

function randomPredictions(random: () => number, n: number): PredictionLine[] {
  const levels = [0.02, 0.1, 0.3, 0.45, 0.5, 0.55, 0.7, 0.9, 0.98]; // few levels: many confidence ties
  const letters = 'abAB_-/0';
  return Array.from({ length: n }, (_, i) => {
    const probability = random() < 0.6 ? levels[Math.floor(random() * levels.length)] : random();
    const threshold = random() < 0.8 ? 0.5 : 0.4;
    const trueLabel = random() < 0.15 ? undefined : random() < 0.5 ? 'PNEUMONIA' : 'NORMAL';
    const key = `${Array.from({ length: 1 + Math.floor(random() * 4) }, () => letters[Math.floor(random() * letters.length)]).join('')}-${i}`;
    return {
      type: 'prediction',
      key,
      etag: '',
      probability,
      threshold,
      label: probability >= threshold ? 'PNEUMONIA' : 'NORMAL',
      ...(trueLabel ? { trueLabel } : {}),
      modelId: 'm',
      modelName: 'm',
      modelVersion: '1',
      timings: { downloadMs: 0, decodeMs: 0, inferenceMs: 0 },
    } as PredictionLine;
  });
}

describe('streaming sample picker', () => {
  it('picks exactly what sorting every labelled prediction picks, ties included', () => {
    const counts = [
      {},
      { gridRight: 3, gridWrong: 2, cams: 5 },
      { gridRight: 1, gridWrong: 0, cams: 0 },
      { gridRight: 16, gridWrong: 16, cams: 4 },
    ];
    for (let seed = 1; seed <= 60; seed++) {
      const random = seededRandom(seed);
      const preds = randomPredictions(random, [0, 1, 5, 20, 200, 3000][seed % 6]);
      for (const opts of counts) {
        const picker = new SamplePicker(opts);
        for (const p of preds) picker.add(p);
        expect(picker.picks(), `seed ${seed} ${JSON.stringify(opts)}`).toEqual(pickSamplesBySort(preds, opts));
      }
    }
  });

  it('TopK keeps the first k in order, the earlier of equals first', () => {
    const top = new TopK<[number, string]>(3, (a, b) => a[0] - b[0]);
    for (const x of [
      [5, 'a'],
      [1, 'b'],
      [3, 'c'],
      [1, 'd'],
      [0, 'e'],
      [3, 'f'],
    ] as [number, string][])
      top.add(x);
    expect(top.sorted()).toEqual([
      [0, 'e'],
      [1, 'b'],
      [1, 'd'],
    ]);
  });
});

describe('curve points from sorted typed scores', () => {
  it('equal the points of sorting (score, label) pairs, ties included', () => {
    for (let seed = 1; seed <= 30; seed++) {
      const random = seededRandom(seed);
      const n = 2 + Math.floor(random() * 500);
      // Scores on a float32 grid, so the Float32Array holds them exactly; a coarse grid makes ties.
      const scores = Array.from({ length: n }, () =>
        Math.fround(Math.floor(random() * (seed % 2 ? 20 : 1e6)) / (seed % 2 ? 20 : 1e6)),
      );
      const truth = scores.map((_, i) => (i === 0 ? true : i === 1 ? false : random() < 0.4));
      const { pos, neg } = sortedSplit(truth, scores);
      expect([...curveFromSorted(pos, neg)]).toEqual(curvePointsBySort(truth, scores));
    }
  });
});

/** The largest vertical distance from a full curve's points to the thinned curve drawn with step-after in x. */
function maxVerticalGap(
  full: readonly CurvePoint[],
  thin: readonly CurvePoint[],
  x: keyof CurvePoint,
  y: keyof CurvePoint,
): number {
  const t = [...thin].sort((a, b) => a[x] - b[x]); // Vega's order by x; equal x keeps the curve's order
  let gap = 0;
  let k = 0;
  let before = t[0][y];
  for (const p of [...full].sort((a, b) => a[x] - b[x])) {
    while (k < t.length && t[k][x] < p[x]) before = t[k++][y];
    let lo = before;
    let hi = before;
    for (let j = k; j < t.length && t[j][x] === p[x]; j++) {
      lo = Math.min(lo, t[j][y]);
      hi = Math.max(hi, t[j][y]);
    }
    gap = Math.max(gap, p[y] < lo ? lo - p[y] : p[y] > hi ? p[y] - hi : 0);
  }
  return gap;
}

describe('thinned curves', () => {
  const random = seededRandom(7);
  const normal = () => Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());
  const n = 200_000;
  const truth = Array.from({ length: n }, () => random() < 0.3);
  // A binormal model with d' = 1.5, as a logistic score; plus a block of tied scores.
  const scores = truth.map((t, i) =>
    i % 50 === 0 ? 0.5 : Math.fround(1 / (1 + Math.exp(-(normal() + (t ? 1.5 : 0))))),
  );
  const { pos, neg } = sortedSplit(truth, scores);
  const curve = () => curveFromSorted(pos, neg);
  const full = [...curve()];

  it(`keeps at most ${MAX_CURVE_POINTS} points, ends included, within the stated tolerance of the full ROC and PR curves`, () => {
    const called = () => full.slice(1);
    const roc = thinCurve(curve, 'fpr', 'tpr');
    const pr = thinCurve(called, 'tpr', 'precision');
    expect(full.length).toBeGreaterThan(100_000);
    for (const [t, all] of [
      [roc, full],
      [pr, called()],
    ] as const) {
      expect(t.points.length).toBeLessThanOrEqual(MAX_CURVE_POINTS);
      expect(t.points[0]).toEqual(all[0]);
      expect(t.points.at(-1)).toEqual(all.at(-1));
    }
    expect(roc.tolerance).toBeLessThanOrEqual(4 / (MAX_CURVE_POINTS - 2) + 1e-12); // the ROC path is at most 2 long
    const rocGap = maxVerticalGap(full, roc.points, 'fpr', 'tpr');
    const prGap = maxVerticalGap(called(), pr.points, 'tpr', 'precision');
    process.stderr.write(
      `thinned ROC ${roc.points.length} of ${full.length} points, max vertical gap ${rocGap.toFixed(5)} (tolerance ${roc.tolerance.toFixed(5)}); ` +
        `PR ${pr.points.length} points, max vertical gap ${prGap.toFixed(5)} (tolerance ${pr.tolerance.toFixed(5)})\n`,
    );
    expect(rocGap).toBeLessThanOrEqual(roc.tolerance);
    expect(prGap).toBeLessThanOrEqual(pr.tolerance);
    // The trapezoid area of the thinned ROC stays close to the full one.
    const area = (pts: readonly CurvePoint[]) =>
      pts.slice(1).reduce((s, p, i) => s + ((p.fpr - pts[i].fpr) * (p.tpr + pts[i].tpr)) / 2, 0);
    expect(Math.abs(area(roc.points) - area(full))).toBeLessThan(roc.tolerance);
  });

  it('a short curve is kept whole; a vertical jump keeps both its ends', () => {
    const short = thinCurve(() => curveFromSorted(new Float32Array([0.2, 0.9]), new Float32Array([0.1])), 'fpr', 'tpr');
    expect(short).toEqual({
      points: [...curveFromSorted(new Float32Array([0.2, 0.9]), new Float32Array([0.1]))],
      tolerance: 0,
    });
    // 1,000 positives tied at 0.9 above 1,000 spread negatives: the ROC rises straight to (0, 1).
    const jumpPos = new Float32Array(1000).fill(0.9);
    const jumpNeg = Float32Array.from({ length: 1000 }, (_, i) => i / 2000);
    const thin = thinCurve(() => curveFromSorted(jumpPos, jumpNeg), 'fpr', 'tpr', 50);
    expect(thin.points.slice(0, 2)).toMatchObject([
      { fpr: 0, tpr: 0 },
      { fpr: 0, tpr: 1 },
    ]);
    expect(thin.points.length).toBeLessThanOrEqual(50);
  });
});

describe('score histogram from binned counts', () => {
  const SCHEMA = 'https://vega.github.io/schema/vega-lite/v6.json';
  /** The chart as it was: one value a prediction, binned by Vega-Lite. */
  const rawSpec = (values: { probability: number; actual: string }[], threshold: number): VlSpec => ({
    $schema: SCHEMA,
    title: 'Scores by true class',
    width: 520,
    height: 200,
    background: 'white',
    layer: [
      {
        data: { values },
        mark: { type: 'bar', opacity: 0.7 },
        encoding: {
          x: { field: 'probability', type: 'quantitative', bin: { extent: [0, 1], step: 0.05 }, title: 'P(pneumonia)' },
          y: { aggregate: 'count', type: 'quantitative', stack: null, title: 'images' },
          color: {
            field: 'actual',
            type: 'nominal',
            scale: { domain: ['NORMAL', 'PNEUMONIA'], range: ['#1f77b4', '#d62728'] },
          },
        },
      },
      {
        data: { values: [{ threshold }] },
        mark: { type: 'rule', color: 'black', strokeDash: [6, 3], strokeWidth: 2 },
        encoding: { x: { field: 'threshold', type: 'quantitative' } },
      },
    ],
  });

  it('counts every labelled score once and draws the same chart Vega-Lite drew from every score', async () => {
    const random = seededRandom(3);
    // Bin edges, 0 and 1 included, and scores in between; unlabelled ones are not counted.
    const edges = Array.from({ length: 21 }, (_, i) => i * 0.05);
    const preds = randomPredictions(random, 2000).map((p, i) => (i < 42 ? { ...p, probability: edges[i % 21] } : p));
    const h = new ScoreHistogram();
    for (const p of preds) h.add(p);
    const { bins, step } = h.result();
    const labelled = preds.filter((p) => p.trueLabel);
    expect(step).toBe(0.05);
    expect(bins.reduce((s, b) => s + b.count, 0)).toBe(labelled.length);
    // The same order of first appearance (NORMAL first, by score) so Vega draws the bars in the same order.
    const values = labelled
      .map((p) => ({ probability: p.probability, actual: p.trueLabel! }))
      .sort((a, b) => a.actual.localeCompare(b.actual) || a.probability - b.probability);
    expect(await renderSvg(scoreHistogramSpec({ bins, step }, 0.5))).toBe(await renderSvg(rawSpec(values, 0.5)));
  });
});
