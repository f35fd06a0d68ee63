import { UnrecoverableError } from 'bullmq';
import { isRetryable } from './errors.js';

/**
 * What BullMQ is told when a job throws. An error that says trying again cannot help (`retryable: false`: a
 * UserError, such as a bad S3 URI or a run header that is not there) becomes an UnrecoverableError, so the job
 * fails at once instead of spending its attempts and their backoff on the same mistake (a failed batch is then
 * settled: its keys fail alone, naming the reason). A retryable error, or one that does not say, is thrown as it
 * is and BullMQ retries it. The original error is the cause.
 */
export function jobError(err: unknown): unknown {
  if (isRetryable(err) !== false || err instanceof UnrecoverableError) return err;
  const unrecoverable = new UnrecoverableError(err instanceof Error ? err.message : String(err));
  unrecoverable.cause = err;
  return unrecoverable;
}

/** `processor` with its errors passed through jobError: wraps every BullMQ processor, in process or sandboxed. */
export function decidingRetries<J>(processor: (job: J) => Promise<unknown>): (job: J) => Promise<unknown> {
  return async (job) => {
    try {
      return await processor(job);
    } catch (err) {
      throw jobError(err);
    }
  };
}
