import type { ProcessCrash } from './types.js';

/** How an object that crashed the scoring process on every attempt is reported (FailureLine.reason). */
export const CRASH_REASON = 'crashed the scoring process';

/** Signals a worker's shutdown sends its sandboxes: not a crash of the batch's making. */
const SHUTDOWN_SIGNALS = new Set(['SIGTERM', 'SIGINT', 'SIGHUP']);

/**
 * The crash in BullMQ's error for a sandboxed process that exited under its job ("Unexpected exit code: null
 * signal: SIGSEGV", "Unexpected exit code: 134 signal: null"); undefined for any other error, for a clean
 * exit and for a shutdown's signal. Pure.
 */
export function processCrash(message: string | undefined): ProcessCrash | undefined {
  const m = /^Unexpected exit code: (\S+) signal: (\S+)$/.exec(message ?? '');
  if (!m) return undefined;
  const signal = m[2] === 'null' ? undefined : m[2];
  if (signal) return SHUTDOWN_SIGNALS.has(signal) ? undefined : { signal };
  const code = Number(m[1]);
  return Number.isInteger(code) && code !== 0 ? { code } : undefined;
}

/** The failure reason of an object that crashed the scoring process on each of its attempts. Pure. */
export function crashReason(crash: ProcessCrash, attempts: number): string {
  const how = crash.signal ? `signal ${crash.signal}` : `exit code ${crash.code}`;
  return `${CRASH_REASON} (${how}, ${attempts} attempt${attempts === 1 ? '' : 's'})`;
}

export const isCrashReason = (reason: string): boolean => reason.startsWith(CRASH_REASON);
