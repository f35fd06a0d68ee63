import type { SandboxedJob } from 'bullmq';
import { pino } from 'pino';
import { createLogger } from '../shared/logger.js';
import { decidingRetries } from '../shared/retry-decision.js';
import { contextFromEnv, type WorkerContext } from './context.js';

// BullMQ runs a queue's sandbox entry (sandbox.ts, train-sandbox.ts) in a child process per concurrent slot,
// so model work never blocks the parent's event loop, which keeps renewing job locks.

// The parent (`cxr worker`) talks to this process over its IPC channel. When the parent dies the
// channel closes and nobody would ever take this process's results: end rather than run on as an orphan.
// It ends by SIGKILL, not process.exit(): exit() runs the native addons' static destructors, and a sandbox
// orphaned by its parent's kill -9 (the fault suite's ONNX case) was found 30 min later with its channel closed
// and its main thread blocked in a futex, an onnxruntime model loaded. Nothing is lost: the line is written
// synchronously first, and the job it held stalls and runs again elsewhere.
function exitWhenOrphaned(): void {
  const exit = () => {
    createLogger({ role: 'sandbox' }, pino.destination({ dest: 2, sync: true })).warn(
      'the worker process is gone (IPC channel closed); exiting',
    );
    process.kill(process.pid, 'SIGKILL');
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
