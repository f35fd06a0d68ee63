import { QueueKeys } from 'bullmq';

/**
 * The Redis list holding a queue's waiting (or running) jobs, named by BullMQ itself: `<prefix>:<queue>:wait`.
 * KEDA's redis scaler counts it (LLEN); infra/k8s names it, and test/k8s checks the two agree.
 */
export function queueListKey(prefix: string, queue: string, list: 'wait' | 'active'): string {
  return new QueueKeys(prefix).toKey(queue, list);
}
