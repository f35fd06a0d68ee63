import type { SandboxedJob } from 'bullmq';
import { createLogger } from '../shared/logger.js';
import { contextFromEnv, type WorkerContext } from './context.js';
import { handleJob } from './handle-job.js';
import { decidingRetries } from '../shared/retry-decision.js';

// BullMQ runs this file in a child process per concurrent slot, so model inference never blocks
// the parent's event loop, which keeps renewing job locks.
let ctx: WorkerContext | undefined;

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
if (process.send) exitWhenOrphaned();

// A job that fails for a reason retrying cannot change fails at once (shared/retry-decision.ts).
export default decidingRetries(async (job: SandboxedJob): Promise<unknown> => {
  ctx ??= contextFromEnv();
  return handleJob(ctx, job);
});
