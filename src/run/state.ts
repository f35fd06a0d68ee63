/** A run's lifecycle, shared by `status`, `score --wait` and metrics.json. */
export type RunStatus = 'running' | 'done' | 'done-with-failures' | 'failed';

export const RUN_STATUSES: readonly RunStatus[] = ['running', 'done', 'done-with-failures', 'failed'];

export function isEnded(status: RunStatus): boolean {
  return status !== 'running';
}

/** The state a complete merge ends in: any failed key makes it done-with-failures. */
export function mergedStatus(failures: number): Exclude<RunStatus, 'running' | 'failed'> {
  return failures === 0 ? 'done' : 'done-with-failures';
}
