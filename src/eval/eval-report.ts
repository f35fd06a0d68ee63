import type { HistoryEntry } from './types.js';
import { trendSpec, type TrendPoint } from '../report/chart-specs.js';
import type { ReportDoc } from '../report/document.js';
import type { ReportRun } from '../report/read-report-run.js';
import { classificationSections, runAlerts, runFacts, type RunReportDeps } from '../report/run-report.js';

/** Trend points of the watched metrics over the history. Pure. */
export function trendPoints(history: readonly HistoryEntry[]): TrendPoint[] {
  return history.flatMap((h) => [
    { date: h.date, metric: 'sensitivity', value: h.metrics.recall },
    { date: h.date, metric: 'specificity', value: h.metrics.specificity },
    ...(h.metrics.rocAuc === null ? [] : [{ date: h.date, metric: 'AUC', value: h.metrics.rocAuc }]),
    { date: h.date, metric: 'positive rate', value: h.scores.positiveRate },
  ]);
}

/** The report of one nightly evaluation: the run's quality, alerts and the night-over-night trend. */
export async function buildEvalReport(
  deps: RunReportDeps,
  run: ReportRun,
  entry: HistoryEntry,
  history: readonly HistoryEntry[],
  now = new Date(),
): Promise<ReportDoc> {
  const sections = await classificationSections(deps, run);
  return {
    title: `Evaluation ${entry.name} ${entry.date}`,
    subtitle: 'Nightly re-evaluation of the production model on the labelled set',
    generatedAt: now.toISOString(),
    facts: [['schedule', entry.name], ['date', entry.date], ...runFacts(run)],
    alerts: [...entry.alerts.map((a) => a.message), ...(runAlerts(run).alerts ?? [])],
    ...sections,
    charts: [{ name: 'trend', spec: trendSpec(trendPoints(history)) }, ...sections.charts],
  };
}
