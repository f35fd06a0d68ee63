import Table from 'cli-table3';
import { fixed, percent } from '../shared/format.js';
import { definedRate } from '../shared/metrics.js';
import { flagsFact, inSampleWarning, type RunMetrics } from '../run/index.js';

const endToEnd = (t: RunMetrics['throughput']) =>
  t.activeSeconds === undefined // metrics.json written before active time was recorded
    ? `${t.endToEndImagesPerSec.toFixed(2)} images/s over ${t.wallSeconds.toFixed(1)} s`
    : `${t.endToEndImagesPerSec.toFixed(2)} images/s over ${t.activeSeconds.toFixed(1)} s of scoring (${t.wallSeconds.toFixed(1)} s since the run was created)`;

const isolationFact = (i: NonNullable<RunMetrics['isolation']>) =>
  `${i.crashedObjects} object(s) crashed the scoring process and failed alone; ${i.batches} batch(es) split ${i.splits} time(s), ${i.extraAttempts} extra batch attempt(s)`;

/** The run's metrics as a terminal table. */
export function metricsTable(m: RunMetrics): string {
  const t = new Table({ head: ['metric', 'value'] });
  t.push(
    ['run', m.runId],
    [
      'state',
      `${m.state ?? 'done'}${m.reason ? `: ${m.reason}` : ''}${m.generation ? ` (attempt generation ${m.generation})` : ''}`,
    ],
    [
      'model',
      m.model ? `${m.model.name} ${m.model.version} (${m.model.id}), threshold ${m.model.threshold.toFixed(3)}` : '-',
    ],
    ['backend', m.backends.join(', ') || '-'],
    [
      'images',
      `${m.counts.total} total, ${m.counts.scored} scored, ${m.counts.failed} failed${m.counts.skipped ? `; ${m.counts.skipped} other objects skipped (see the manifest)` : ''}`,
    ],
    ...(m.flags && (m.flags.flagged || m.flags.failedAsFlagged)
      ? [['flags', flagsFact(m.flags)] as [string, string]]
      : []),
    ...(m.isolation && (m.isolation.batches || m.isolation.crashedObjects)
      ? [['crash isolation', isolationFact(m.isolation)] as [string, string]]
      : []),
    ['end to end', endToEnd(m.throughput)],
  );
  const attempts = m.throughput.attempts ?? [];
  if (attempts.length > 1)
    for (const a of attempts)
      t.push([
        `  attempt ${a.generation}`,
        `${a.images} images, ${a.imagesPerSec.toFixed(2)} images/s over ${a.activeSeconds.toFixed(1)} s`,
      ]);
  const cold = m.throughput.coldStart;
  if (cold?.loads)
    t.push(['model loads', `${cold.loads} (new sandboxes), ${cold.meanSeconds.toFixed(1)} s each, not counted above`]);
  for (const [stage, s] of Object.entries(m.throughput.stages))
    t.push([`  ${stage}`, `${s.imagesPerSec.toFixed(1)} images/s (${(s.totalMs / 1000).toFixed(1)} s busy)`]);
  const c = m.classification;
  const inSample = inSampleWarning(m.flags, m.counts.scored);
  if (c && inSample) t.push(['WARNING', inSample]);
  if (c) {
    t.push(
      ['labelled', String(c.n)],
      ['accuracy', percent(definedRate(c, 'accuracy'))],
      ['precision', percent(definedRate(c, 'precision'))],
      ['recall (sensitivity)', percent(definedRate(c, 'recall'))],
      ['specificity', percent(definedRate(c, 'specificity'))],
      ['F1', percent(definedRate(c, 'f1'))],
      ['ROC AUC', fixed(c.rocAuc, 4)],
      ['confusion', `TP ${c.confusion.tp}  FP ${c.confusion.fp}  TN ${c.confusion.tn}  FN ${c.confusion.fn}`],
    );
  }
  return t.toString();
}
