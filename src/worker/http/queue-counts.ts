import type { Queue } from 'bullmq';

/**
 * BullMQ's Prometheus export of several queues as one exposition: each queue's text repeats the HELP and
 * TYPE lines, which must appear once per metric, so samples are grouped under the first ones.
 */
export async function exportQueues(queues: readonly Queue[], labels: Record<string, string>): Promise<string> {
  const texts = await Promise.all(queues.map((q) => q.exportPrometheusMetrics(labels)));
  const heads = new Map<string, string[]>();
  const samples = new Map<string, string[]>();
  for (const line of texts.join('\n').split('\n')) {
    const meta = /^# (HELP|TYPE) (\S+)/.exec(line);
    const name = meta ? meta[2] : /^[a-zA-Z_:][\w:]*/.exec(line)?.[0];
    if (!name) continue;
    if (!samples.has(name)) {
      heads.set(name, []);
      samples.set(name, []);
    }
    if (!meta) samples.get(name)!.push(line);
    else if (!heads.get(name)!.some((h) => h.startsWith(`# ${meta[1]} `))) heads.get(name)!.push(line);
  }
  return [...samples.keys()].flatMap((name) => [...heads.get(name)!, ...samples.get(name)!]).join('\n') + '\n';
}

/** Rejects after `ms`: a command queued on a connection that is down would otherwise wait for it. */
export function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>(
    (_, reject) => (timer = setTimeout(() => reject(new Error(`${what}: no answer in ${ms} ms`)), ms)),
  );
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}
