import { QueueKeys } from 'bullmq';

/** The Redis keys of a queue that hold runnable work: waiting and running jobs (lists), jobs added with a priority and jobs in retry backoff (sorted sets). */
export type RunnableKey = 'wait' | 'active' | 'prioritized' | 'delayed';
export const RUNNABLE_KEYS: readonly RunnableKey[] = ['wait', 'active', 'prioritized', 'delayed'];

/**
 * A queue's key named by BullMQ itself, e.g. `<prefix>:<queue>:wait`. KEDA's redis scaler counts each of
 * them (LLEN for a list, ZCARD for a sorted set); infra/k8s names them, and test/infra/k8s checks the two agree.
 */
export function queueListKey(prefix: string, queue: string, list: RunnableKey): string {
  return new QueueKeys(prefix).toKey(queue, list);
}
