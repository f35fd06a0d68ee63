/** The arithmetic of npm run bench:fleet (fleet.ts), apart from its processes. */

/** The q-th quantile (0..1) of sorted values, nearest rank. Pure. */
export function quantile(sorted: number[], q: number): number {
  if (!sorted.length) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))];
}

/**
 * What one Redis feeds, from a measured Redis cost per batch job: Redis runs commands on one
 * core, so it saturates near 1e6 / cpuUsPerJob jobs/s; plan for `headroom` of that. A GPU worker scoring
 * `imagesPerSec` in jobs of `batchSize` images takes imagesPerSec / batchSize jobs/s. Pure.
 */
export function projectWorkers(
  cpuUsPerJob: number,
  imagesPerSec: number,
  jobBatch: number,
  headroom = 0.7,
): { redisJobsPerSec: number; jobsPerSecPerWorker: number; workers: number } {
  const redisJobsPerSec = (1e6 / cpuUsPerJob) * headroom;
  const jobsPerSecPerWorker = imagesPerSec / jobBatch;
  return {
    redisJobsPerSec: Math.round(redisJobsPerSec),
    jobsPerSecPerWorker: Math.round(jobsPerSecPerWorker * 10) / 10,
    workers: Math.floor(redisJobsPerSec / jobsPerSecPerWorker),
  };
}
