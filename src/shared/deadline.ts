/**
 * Every close has a deadline: a connection to a Redis that is gone, a worker waiting on a job that cannot be
 * recorded, a child that does not answer can each wait forever. `within` lets the owner go on after `ms`.
 */
export type Settled<T> = { kind: 'done'; value: T } | { kind: 'failed'; error: unknown } | { kind: 'timed-out' };

/**
 * The promise's outcome, or 'timed-out' after `ms` (or when `abort` fires first); never rejects. The timer keeps
 * nothing alive. `ms` Infinity: only `abort` ends the wait (Node would run a longer timer after 1 ms).
 */
export async function within<T>(promise: Promise<T>, ms: number, abort?: AbortSignal): Promise<Settled<T>> {
  let timer: NodeJS.Timeout | undefined;
  let onAbort: (() => void) | undefined;
  const late = new Promise<Settled<T>>((resolve) => {
    if (Number.isFinite(ms)) {
      timer = setTimeout(() => resolve({ kind: 'timed-out' }), ms);
      timer.unref();
    }
    onAbort = () => resolve({ kind: 'timed-out' });
    if (abort?.aborted) onAbort();
    else abort?.addEventListener('abort', onAbort, { once: true });
  });
  try {
    return await Promise.race([
      promise.then(
        (value): Settled<T> => ({ kind: 'done', value }),
        (error: unknown): Settled<T> => ({ kind: 'failed', error }),
      ),
      late,
    ]);
  } finally {
    clearTimeout(timer);
    if (onAbort) abort?.removeEventListener('abort', onAbort);
  }
}

/** Runs `close` within `ms`: true when it finished (an error while closing counts: the resource is gone or broken either way). */
export async function closeWithin(ms: number, close: () => Promise<unknown> | unknown): Promise<boolean> {
  const r = await within(Promise.resolve().then(close), ms);
  return r.kind !== 'timed-out';
}

/**
 * A signal that aborts once `up()` has read false for `ms` in a row (polled every 250 ms): a connection down
 * that long ends what waits on it, since nothing it does could be recorded. stop() ends the polling; the
 * poll keeps nothing alive.
 */
export function downFor(up: () => boolean, ms: number): { signal: AbortSignal; stop(): void } {
  const down = new AbortController();
  let since: number | undefined;
  const poll = setInterval(() => {
    if (up()) return void (since = undefined);
    since ??= Date.now();
    if (Date.now() - since < ms) return;
    clearInterval(poll);
    down.abort();
  }, 250).unref();
  return { signal: down.signal, stop: () => clearInterval(poll) };
}
