import { InvalidArgumentError } from 'commander';
import { parseS3Uri } from '../shared/s3/uri.js';
import type { EvalJobData } from '../eval/types.js';

export function nonNegative(flag: string) {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isFinite(n) || n < 0) throw new InvalidArgumentError(`${flag} must be a number >= 0, got ${JSON.stringify(value)}`);
    return n;
  };
}

/** Commander's parsed flags of `schedule eval` / `eval run`: the job's fields, not yet validated. */
export type EvalFlags = EvalJobData;

/** Validates the flags shared by `schedule eval` and `eval run` into job data. */
export function evalJobData(f: EvalFlags): EvalJobData {
  parseS3Uri(f.data);
  parseS3Uri(f.out);
  if (!/^[A-Za-z0-9._-]{1,60}$/.test(f.name)) throw new InvalidArgumentError(`--name: use letters, digits, '.', '_' and '-' (max 60), got ${JSON.stringify(f.name)}`);
  if (f.webhook) new URL(f.webhook);
  if (f.tz) new Intl.DateTimeFormat('en', { timeZone: f.tz });
  return {
    name: f.name, data: f.data, out: f.out, margin: f.margin, psiLimit: f.psiLimit, ksLimit: f.ksLimit, batchSize: f.batchSize,
    ...(f.webhook ? { webhook: f.webhook } : {}),
    ...(f.baseline ? { baseline: f.baseline } : {}),
    ...(f.tz ? { tz: f.tz } : {}),
  };
}
