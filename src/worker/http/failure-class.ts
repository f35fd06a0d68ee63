/**
 * A short, bounded class for a per-image failure reason (a metric label must not carry free text):
 * 'empty', 'corrupt', 'unreadable', 'not-found', 'forbidden', 'size' or 'other'.
 */
export function failureClass(reason: string): string {
  if (/^empty object/.test(reason)) return 'empty';
  if (/^corrupt /.test(reason)) return 'corrupt';
  if (/^not a readable image/.test(reason)) return 'unreadable';
  if (/NoSuchKey|NotFound|HTTP 404/.test(reason)) return 'not-found';
  if (/AccessDenied|HTTP 403/.test(reason)) return 'forbidden';
  if (/^decoded to \d+ bytes/.test(reason)) return 'size';
  return 'other';
}

/** Failures of one batch counted by stage, then by class: { decode: { corrupt: 2 } }. */
export type FailureCounts = Record<string, Record<string, number>>;

export function countFailures(lines: readonly { type: string; stage?: string; reason?: string }[]): FailureCounts {
  const counts: FailureCounts = {};
  for (const l of lines) {
    if (l.type !== 'failure' || !l.stage) continue;
    const byClass = (counts[l.stage] ??= {});
    const cls = failureClass(l.reason ?? '');
    byClass[cls] = (byClass[cls] ?? 0) + 1;
  }
  return counts;
}
