import { describe, expect, it } from 'vitest';
import { binaryMetrics, curveFromSorted, operatingPoint, rocAuc } from '../../src/shared/metrics.js';
import { confusionCells, confusionSpec, prSpec, rocSpec, trainingCurvesSpec } from '../../src/report/chart-specs.js';
import { camFromActivation, jet } from '../../src/report/gradcam.js';
import { SamplePicker } from '../../src/report/samples.js';
import { escapeHtml, renderHtml, type HtmlGallery } from '../../src/report/html.js';
import { metricRows } from '../../src/report/metric-rows.js';
import { buildTrainingReport } from '../../src/report/training-report.js';
import type { PredictionLine } from '../../src/run/types.js';

const truth = [true, true, false, true, false, false];
const scores = [0.9, 0.8, 0.7, 0.6, 0.2, 0.1];
/** The curve of labels and scores in any order, as the report reads it from the sorted score arrays. */
const curvePoints = (t: boolean[], s: number[]) => {
  const pos = Float64Array.from(s.filter((_, i) => t[i])).sort();
  const neg = Float64Array.from(s.filter((_, i) => !t[i])).sort();
  return pos.length && neg.length ? [...curveFromSorted(pos, neg)] : null;
};
const confusionAt = (threshold: number) => binaryMetrics(truth, scores, threshold).confusion;

describe('ROC / PR curve points', () => {
  it('walks from (0,0) to (1,1), and its trapezoid area equals the rank AUC', () => {
    const pts = curvePoints(truth, scores)!;
    expect(pts[0]).toMatchObject({ fpr: 0, tpr: 0 });
    expect(pts.at(-1)).toMatchObject({ fpr: 1, tpr: 1 });
    let area = 0;
    for (let i = 1; i < pts.length; i++) area += ((pts[i].fpr - pts[i - 1].fpr) * (pts[i].tpr + pts[i - 1].tpr)) / 2;
    expect(area).toBeCloseTo(rocAuc(truth, scores)!, 12);
    // At threshold 0.7: calls 0.9, 0.8, 0.7 positive -> tp 2, fp 1.
    expect(pts.find((p) => p.threshold === 0.7)).toMatchObject({ tpr: 2 / 3, fpr: 1 / 3, precision: 2 / 3 });
  });

  it('groups tied scores into one point and is null with one class', () => {
    expect(curvePoints([true, false, true], [0.5, 0.5, 0.5])).toHaveLength(2);
    expect(curvePoints([true, true], [0.1, 0.9])).toBeNull();
  });

  it('operating point matches the confusion at the threshold', () => {
    expect(operatingPoint(confusionAt(0.65), 0.65)).toEqual({
      threshold: 0.65,
      tpr: 2 / 3,
      fpr: 1 / 3,
      precision: 2 / 3,
    });
    expect(operatingPoint(confusionAt(0.95), 0.95)).toMatchObject({ tpr: 0, fpr: 0, precision: 1 });
    expect(operatingPoint({ tp: 2, fn: 1, fp: 0, tn: 0 }, 0.5)).toBeNull();
  });
});

describe('chart specs', () => {
  it('confusion cells hold the counts and row shares', () => {
    const cells = confusionCells({ tp: 8, fn: 2, tn: 3, fp: 1 });
    expect(cells).toContainEqual({ actual: 'PNEUMONIA', predicted: 'PNEUMONIA', count: 8, share: 0.8 });
    expect(cells).toContainEqual({ actual: 'NORMAL', predicted: 'PNEUMONIA', count: 1, share: 0.25 });
    expect((confusionSpec({ tp: 8, fn: 2, tn: 3, fp: 1 }).data!.values as unknown[]).length).toBe(4);
  });

  it('ROC and PR specs carry the curve and mark the threshold', () => {
    const pts = curvePoints(truth, scores)!;
    const op = operatingPoint(confusionAt(0.65), 0.65)!;
    const roc = rocSpec(pts, op, 0.78) as { title: string; layer: { data: { values: Record<string, unknown>[] } }[] };
    expect(roc.title).toContain('0.780');
    expect(roc.layer[1].data.values).toHaveLength(pts.length);
    expect(roc.layer[2].data.values[0]).toMatchObject({ fpr: 1 / 3, tpr: 2 / 3, label: 'threshold 0.650' });
    const pr = prSpec(pts, op) as { layer: { data: { values: Record<string, unknown>[] } }[] };
    expect(pr.layer[0].data.values.every((v) => v.threshold !== null)).toBe(true);
    expect(pr.layer[1].data.values[0]).toMatchObject({ tpr: 2 / 3, precision: 2 / 3 });
    expect(JSON.stringify(roc)).not.toContain('Infinity');
  });

  it('training curves plot every numeric series, learning rate on its own panel', () => {
    const spec = trainingCurvesSpec(
      [
        { epoch: 1, lr: 0.001, trainLoss: 0.4, valLoss: 0.3 },
        { epoch: 2, lr: 0.0009, trainLoss: 0.2, valLoss: 0.25 },
      ],
      2,
    );
    const values = spec.data!.values as { series: string; panel: string }[];
    expect(values).toHaveLength(6);
    expect(values.filter((v) => v.panel === 'learning rate').map((v) => v.series)).toEqual(['lr', 'lr']);
    expect(spec.title).toContain('best epoch 2');
  });

  it('training report uses validation metrics when present', () => {
    const doc = buildTrainingReport(
      {
        id: 'x',
        name: 'm',
        version: '1',
        threshold: 0.4,
        validation: {
          n: 10,
          accuracy: 0.9,
          precision: 0.9,
          recall: 0.8,
          specificity: 1,
          f1: 0.85,
          rocAuc: 0.95,
          confusion: { tp: 4, fp: 0, tn: 5, fn: 1 },
        },
      },
      [{ epoch: 1, loss: 1 }],
      'dir',
    );
    // The metrics are shown once, as the HTML table (no PNG copy of the same table).
    expect(doc.charts.map((c) => c.name)).toEqual(['training-curves', 'confusion-matrix']);
    expect(doc.metrics?.find((r) => r.metric === 'specificity')?.value).toBe('100.0%');
    expect(buildTrainingReport({ id: 'x', name: 'm', version: '1' }, [], 'dir').charts).toEqual([]);
  });
});

describe('Grad-CAM for a GAP -> Dense head', () => {
  it('is ReLU of the kernel-weighted channel sum, scaled to [0, 1]', () => {
    // 2x1 grid, 2 channels; kernel (1, -1)
    const a = new Float32Array([3, 1, /* cell 2 */ 0, 2]);
    expect(Array.from(camFromActivation(a, new Float32Array([1, -1]), 2, 1))).toEqual([1, 0]);
    const cam = camFromActivation(new Float32Array([1, 2, 3, 4]), new Float32Array([1, 1]), 1, 2);
    expect(cam[0]).toBeCloseTo(3 / 7, 6);
    expect(cam[1]).toBe(1);
    expect(() => camFromActivation(new Float32Array(3), new Float32Array(2), 1, 2)).toThrow(/activation/);
  });

  it('colours cold blue and hot red', () => {
    expect(jet(0)[2]).toBeGreaterThan(jet(0)[0]);
    expect(jet(1)[0]).toBeGreaterThan(jet(1)[2]);
  });
});

describe('sample picking', () => {
  const p = (key: string, probability: number, trueLabel: 'NORMAL' | 'PNEUMONIA'): PredictionLine => ({
    type: 'prediction',
    key,
    etag: '',
    probability,
    threshold: 0.5,
    label: probability >= 0.5 ? 'PNEUMONIA' : 'NORMAL',
    trueLabel,
    modelId: 'm',
    modelName: 'm',
    modelVersion: '1',
    timings: { downloadMs: 0, decodeMs: 0, inferenceMs: 0 },
  });
  const preds = [
    p('a', 0.99, 'PNEUMONIA'),
    p('b', 0.7, 'PNEUMONIA'),
    p('c', 0.1, 'NORMAL'),
    p('d', 0.9, 'NORMAL'),
    p('e', 0.4, 'PNEUMONIA'),
    p('f', 0.6, 'PNEUMONIA'),
  ];

  it('grid has right calls of both classes and the wrong calls; CAMs take the most confident', () => {
    const picker = new SamplePicker({ gridRight: 2, gridWrong: 5, cams: 1 });
    for (const x of preds) picker.add(x);
    const s = picker.picks();
    expect(s.grid.filter((g) => g.correct).map((g) => g.prediction.key)).toEqual(['a', 'c']);
    expect(s.grid.filter((g) => !g.correct).map((g) => g.prediction.key)).toEqual(['d', 'e']);
    expect(s.confident.map((x) => x.key)).toEqual(['a']);
    expect(s.errors.map((x) => x.key)).toEqual(['d']);
  });
});

it('escapes HTML', () => {
  expect(escapeHtml(`<a href="x">'&'</a>`)).toBe('&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;');
});

describe('report page', () => {
  const doc = { title: 't', generatedAt: 'now', facts: [], charts: [], galleries: [] };
  const item = {
    file: 'images/001.jpg',
    dataUri: 'data:image/jpeg;base64,AA',
    alt: 'a',
    tone: 'ok',
    caption: 'xrays/2026-11/NORMAL/person1_virus_6.jpeg\ntrue NORMAL · predicted NORMAL (p=0.012)',
  };

  it('captions show the whole key, breakable after its slashes and underscores, and the call on its own line', () => {
    const html = renderHtml(doc, [], [{ title: 'Sample X-rays', items: [item] }]);
    expect(html).toContain(
      '<figcaption><span class="key">xrays/<wbr>2026-11/<wbr>NORMAL/<wbr>person1_<wbr>virus_<wbr>6.jpeg</span><br>true NORMAL · predicted NORMAL (p=0.012)</figcaption>',
    );
    expect(html).not.toContain('break-all');
  });

  it('an empty gallery with an empty text says so; one without is left out', () => {
    const galleries: HtmlGallery[] = [
      { title: 'Grad-CAM: errors', items: [], empty: 'No errors: every labelled image was called right.' },
      { title: 'Grad-CAM: most confident pneumonia calls', items: [] },
    ];
    const html = renderHtml(doc, [], galleries);
    expect(html).toContain(
      '<h2>Grad-CAM: errors</h2><p class="empty">No errors: every labelled image was called right.</p>',
    );
    expect(html).not.toContain('most confident');
  });

  it('metric rows print undefined rates as n/a', () => {
    const rows = metricRows(binaryMetrics([false, false], [0.1, 0.2], 0.5), undefined);
    const value = (name: string) => rows.find((r) => r.metric === name)?.value;
    expect([
      value('precision'),
      value('sensitivity (recall)'),
      value('F1'),
      value('ROC AUC'),
      value('threshold'),
    ]).toEqual(['n/a', 'n/a', 'n/a', 'n/a', 'n/a']);
    expect(value('specificity')).toBe('100.0%');
  });
});
