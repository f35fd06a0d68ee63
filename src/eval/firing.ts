/** Firing identity of an evaluation. Pure. */

/** The scheduled time of a scheduler job (its id is repeat:<scheduler>:<millis>), else the job's timestamp. */
export function firingMillis(jobId: string | undefined, timestamp: number): number {
  const m = /^repeat:.*:(\d+)$/.exec(jobId ?? '');
  return m ? Number(m[1]) : timestamp;
}

/** YYYY-MM-DD of an instant in a time zone (default UTC). */
export function dateIn(millis: number, tz = 'UTC'): string {
  return new Intl.DateTimeFormat('en-CA', { timeZone: tz, year: 'numeric', month: '2-digit', day: '2-digit' }).format(
    new Date(millis),
  );
}

/** Run id of a firing: schedule name + date, so a retried firing reuses the same scoring run. */
export function evalRunId(name: string, date: string): string {
  const safe = name.replace(/[^A-Za-z0-9._-]+/g, '-').slice(0, 60);
  return `eval-${safe}-${date.replace(/-/g, '')}`;
}
