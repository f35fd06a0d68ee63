import { describe, expect, it } from 'vitest';
import { projectWorkers, quantile } from '../../src/bench/fleet-math.js';

describe('bench:fleet arithmetic', () => {
  it('quantile: nearest rank of sorted values', () => {
    const xs = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10];
    expect(quantile(xs, 0.5)).toBe(5);
    expect(quantile(xs, 0.95)).toBe(10);
    expect(quantile(xs, 0)).toBe(1);
    expect(quantile([7], 0.5)).toBe(7);
    expect(quantile([], 0.5)).toBeNaN();
  });

  it("projectWorkers: Redis jobs/s at the headroom of one core over a GPU worker's jobs/s", () => {
    // 500 us per job: 2,000 jobs/s on one core, 1,400 at 70%; 1,000 images/s in jobs of 64: 15.625 jobs/s.
    expect(projectWorkers(500, 1000, 64)).toEqual({ redisJobsPerSec: 1400, jobsPerSecPerWorker: 15.6, workers: 89 });
    expect(projectWorkers(500, 3000, 64).workers).toBe(29);
    expect(projectWorkers(500, 1000, 64, 1).workers).toBe(128);
  });
});
