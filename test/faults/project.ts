import type { TestProjectInlineConfiguration } from 'vitest/config';

/**
 * The fault suite's settings, shared by the main config (where it runs beside test/e2e) and its own config
 * (`npm run test:faults`). Its files start, kill and restart their own redis-server, S3 server and `cxr worker`
 * processes on free loopback ports with their own queue prefix, so they need no global set-up and run two at a
 * time: the suite mostly waits (lock expiry, reconnect backoff, deadlines), about 30% of the two cores.
 */
export const faultsProject = {
  test: {
    name: 'faults',
    include: ['test/faults/**/*.test.ts'],
    testTimeout: 300_000,
    hookTimeout: 300_000,
    pool: 'forks',
    fileParallelism: true,
    maxWorkers: 2,
  },
} satisfies TestProjectInlineConfiguration;
