import type { SandboxedJob } from 'bullmq';
import { contextFromEnv, type WorkerContext } from './context.js';
import { handleJob } from './handle-job.js';

// BullMQ runs this file in a child process per concurrent slot, so model inference never blocks
// the parent's event loop, which keeps renewing job locks.
let ctx: WorkerContext | undefined;

export default async function processor(job: SandboxedJob): Promise<unknown> {
  ctx ??= contextFromEnv();
  return handleJob(ctx, job);
}
