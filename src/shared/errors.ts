/**
 * Errors a caller decides on: a person's mistake (UserError, UsageError: printed as one line, not retried)
 * or a passing condition (TransientError: retry later). Each takes a `cause`, so the error underneath is
 * kept. How the CLI prints them is in src/cli/errors.ts. Exit codes: 1 for a failure at run time (a missing
 * bucket, no credentials, Redis unreachable), 2 for bad usage (a flag, a setting); `score --wait` verdicts
 * carry their own codes (src/run/outcome.ts).
 */
export const EXIT_FAILURE = 1;
export const EXIT_USAGE = 2;

/** An error the CLI prints as its one-line message (no stack), exiting with `exitCode`. */
export class UserError extends Error {
  /** A person must act (fix a flag, a file, a permission): trying again unchanged cannot help. */
  readonly retryable = false;

  constructor(
    message: string,
    readonly exitCode = EXIT_FAILURE,
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = 'UserError';
  }
}

/** Bad command-line input or settings; the message names the flag. Exits with code 2. */
export class UsageError extends UserError {
  constructor(message: string, options?: ErrorOptions) {
    super(message, EXIT_USAGE, options);
    this.name = 'UsageError';
  }
}

/** A condition that passes (a run still being listed, a service restarting): the job is retried with backoff. */
export class TransientError extends Error {
  readonly retryable = true;

  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'TransientError';
  }
}

/**
 * Whether trying again may succeed: false for a person's mistake, true for a passing condition, else unknown.
 * Workers act on it (retry-decision.ts): a job failing with a non-retryable error fails at once, unretried.
 */
export function isRetryable(err: unknown): boolean | undefined {
  const r = (err as { retryable?: unknown } | null)?.retryable;
  return typeof r === 'boolean' ? r : undefined;
}
