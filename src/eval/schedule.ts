import { randomUUID } from 'node:crypto';
import { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { RedisScript } from '../shared/redis-script.js';
import { DEFAULT_JOB_OPTIONS, queueErrorsTo } from '../shared/queue.js';
import { EVAL_QUEUE, JOB_EVAL, type EvalJobData } from './types.js';

export function createEvalQueue(connection: Redis, prefix: string): Queue {
  const queue = new Queue(EVAL_QUEUE, {
    connection,
    prefix,
    defaultJobOptions: { ...DEFAULT_JOB_OPTIONS, attempts: 3 },
  });
  queueErrorsTo(queue, () => undefined); // failed calls reject; an unheard 'error' would print the whole error object
  return queue;
}

export interface ScheduleSpec {
  name: string;
  pattern: string;
  tz?: string;
  data: EvalJobData;
}

const RELEASE = RedisScript.load(new URL('./commands/release-lock.lua', import.meta.url));

/** Runs `fn` holding a short Redis lock, so concurrent callers take turns. */
async function withLock<T>(redis: Redis, key: string, fn: () => Promise<T>, waitMs = 30_000): Promise<T> {
  const token = randomUUID();
  const deadline = Date.now() + waitMs;
  while ((await redis.set(key, token, 'PX', 30_000, 'NX')) !== 'OK') {
    if (Date.now() > deadline) throw new Error(`could not take lock ${key} within ${waitMs} ms`);
    await new Promise((r) => setTimeout(r, 50 + Math.random() * 100));
  }
  try {
    return await fn();
  } finally {
    await RELEASE.run(redis, [key], [token]);
  }
}

/**
 * Creates or updates the scheduler `name`. Upserts of one scheduler are serialized with a Redis lock:
 * BullMQ has had races where simultaneous upserts left several delayed jobs (taskforcesh/bullmq#2988).
 */
export async function upsertEvalSchedule(
  queue: Queue,
  redis: Redis,
  prefix: string,
  spec: ScheduleSpec,
): Promise<void> {
  await withLock(redis, `${prefix}:${EVAL_QUEUE}:schedule-lock:${spec.name}`, async () => {
    await queue.upsertJobScheduler(
      spec.name,
      { pattern: spec.pattern, ...(spec.tz ? { tz: spec.tz } : {}) },
      { name: JOB_EVAL, data: spec.data },
    );
  });
}

export interface ScheduleInfo {
  name: string;
  pattern?: string;
  tz?: string;
  next?: number;
  data?: EvalJobData;
}

export async function listEvalSchedules(queue: Queue): Promise<ScheduleInfo[]> {
  const all = await queue.getJobSchedulers(0, -1, true);
  return all.map((s) => ({
    name: s.key,
    pattern: s.pattern ?? undefined,
    tz: s.tz ?? undefined,
    next: s.next,
    data: s.template?.data as EvalJobData | undefined,
  }));
}

export function removeEvalSchedule(queue: Queue, name: string): Promise<boolean> {
  return queue.removeJobScheduler(name);
}
