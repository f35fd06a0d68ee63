import type { SandboxedJob } from 'bullmq';
import { createLogger } from '../shared/logger.js';
import { decidingRetries } from '../shared/retry-decision.js';
import { contextFromEnv, type WorkerContext } from './context.js';

// BullMQ runs a queue's sandbox entry (sandbox.ts, train-sandbox.ts) in a child process per concurrent slot,
// so model work never blocks the parent's event loop, which keeps renewing job locks.

// The parent (`cxr worker`) talks to this process over its IPC channel. When the parent dies the
// channel closes and nobody would ever take this process's results: exit rather than run on as an orphan.
function exitWhenOrphaned(): void {
  const exit = () => {
    createLogger({ role: 'sandbox' }).warn('the worker process is gone (IPC channel closed); exiting');
    process.exit(1);
  };
  process.once('disconnect', exit);
  setInterval(() => {
    if (!process.connected) exit();
  }, 1000).unref();
}

/**
 * A sandbox entry's processor: one queue's handler over a context built once per process. A job that fails for
 * a reason retrying cannot change fails at once (shared/retry-decision.ts).
 */
export function sandboxProcessor(
  handle: (ctx: WorkerContext, job: SandboxedJob) => Promise<unknown>,
): (job: SandboxedJob) => Promise<unknown> {
  if (process.send) exitWhenOrphaned();
  let ctx: WorkerContext | undefined;
  return decidingRetries((job) => handle((ctx ??= contextFromEnv()), job));
}
