import { configDefaults, defineConfig } from 'vitest/config';
import { faultsProject } from './test/faults/project.js';

/** End-to-end files whose lock and drain timings must not share the CPU with another file. */
const TIMING_SENSITIVE = ['test/e2e/lock.test.ts', 'test/e2e/worker-drain.test.ts'];

// Three groups, one after the other (vitest runs the projects of one group together, in one pool of workers).
// 1. The tests by subject, two files at a time: each uses its own queue prefix, bucket and free loopback ports,
//    so files do not share state; they keep the two cores about 80% busy.
// 2. test/e2e (spawned `cxr worker` processes) and the fault suite (test/faults, its own servers), two files at a
//    time across both: apart, e2e kept the cores about 56% busy and the fault suite about 30%.
// 3. The timing-sensitive e2e files, one at a time.
export default defineConfig({
  test: {
    globalSetup: ['test/global-setup.ts'],
    testTimeout: 120_000,
    hookTimeout: 300_000,
    pool: 'forks',
    projects: [
      {
        extends: true,
        test: {
          name: 'by-subject',
          include: ['test/**/*.test.ts'],
          exclude: [...configDefaults.exclude, 'test/faults/**', 'test/e2e/**'],
          fileParallelism: true,
          maxWorkers: 2,
          sequence: { groupOrder: 0 },
        },
      },
      {
        extends: true,
        test: {
          name: 'e2e',
          include: ['test/e2e/**/*.test.ts'],
          exclude: [...configDefaults.exclude, ...TIMING_SENSITIVE],
          fileParallelism: true,
          maxWorkers: 2,
          sequence: { groupOrder: 1 },
        },
      },
      { test: { ...faultsProject.test, sequence: { groupOrder: 1 } } },
      {
        extends: true,
        test: {
          name: 'e2e-timing',
          include: TIMING_SENSITIVE,
          fileParallelism: false,
          sequence: { groupOrder: 2 },
        },
      },
    ],
  },
});
