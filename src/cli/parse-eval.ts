import { InvalidArgumentError } from 'commander';
import type { EvalJobData } from '../eval/types.js';

/** Commander's parsed flags of `schedule eval` / `eval run` (each value checked by its parser): the job's fields. */
export type EvalFlags = EvalJobData;

export function scheduleName(value: string): string {
  if (!/^[A-Za-z0-9._-]{1,60}$/.test(value))
    throw new InvalidArgumentError(`use letters, digits, '.', '_' and '-' (max 60)`);
  return value;
}

/** The job data of `schedule eval` and `eval run`, without the flags that were not given. */
export function evalJobData(f: EvalFlags): EvalJobData {
  return {
    name: f.name,
    data: f.data,
    out: f.out,
    margin: f.margin,
    psiLimit: f.psiLimit,
    ksLimit: f.ksLimit,
    batchSize: f.batchSize,
    ...(f.webhook ? { webhook: f.webhook } : {}),
    ...(f.baseline ? { baseline: f.baseline } : {}),
    ...(f.tz ? { tz: f.tz } : {}),
  };
}
