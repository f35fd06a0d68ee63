import type { S3Client } from '@aws-sdk/client-s3';
import { getTextIfExists, putObject } from '../shared/s3/objects.js';
import { joinKey, type S3Location } from '../shared/s3/uri.js';
import type { HistoryEntry } from './types.js';

/** Where evaluations live under EVALS/. Pure. */
export function evalLayout(out: S3Location, date: string) {
  return {
    bucket: out.bucket,
    history: joinKey(out.prefix, 'history.jsonl'),
    runsOut: { bucket: out.bucket, prefix: joinKey(out.prefix, 'runs') } as S3Location,
    dayRoot: joinKey(out.prefix, date),
    metrics: joinKey(out.prefix, date, 'metrics.json'),
    report: joinKey(out.prefix, date, 'report'),
  };
}

export function parseHistory(text: string | undefined): HistoryEntry[] {
  return (text ?? '')
    .split('\n')
    .filter((l) => l.trim())
    .map((l) => JSON.parse(l) as HistoryEntry);
}

export function formatHistory(entries: readonly HistoryEntry[]): string {
  return entries.map((e) => JSON.stringify(e)).join('\n') + (entries.length ? '\n' : '');
}

/** Adds an entry, replacing one for the same date and schedule (a retried firing), sorted by date. Pure. */
export function upsertEntry(entries: readonly HistoryEntry[], entry: HistoryEntry): HistoryEntry[] {
  return [...entries.filter((e) => !(e.date === entry.date && e.name === entry.name)), entry].sort(
    (a, b) => a.date.localeCompare(b.date) || a.evaluatedAt.localeCompare(b.evaluatedAt),
  );
}

/** The latest evaluation of the same schedule before `date`. Pure. */
export function previousEntry(entries: readonly HistoryEntry[], name: string, date: string): HistoryEntry | undefined {
  return entries.filter((e) => e.name === name && e.date < date).at(-1);
}

export async function readHistory(s3: S3Client, out: S3Location): Promise<HistoryEntry[]> {
  const l = evalLayout(out, '');
  return parseHistory(await getTextIfExists(s3, l.bucket, l.history));
}

export async function writeHistory(s3: S3Client, out: S3Location, entries: readonly HistoryEntry[]): Promise<void> {
  const l = evalLayout(out, '');
  await putObject(s3, l.bucket, l.history, formatHistory(entries), 'application/x-ndjson');
}
