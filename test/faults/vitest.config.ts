import { defineConfig } from 'vitest/config';

// The fault suite (npm run test:faults): it starts, kills and restarts redis-servers, S3 servers and `cxr worker`
// processes. Each file has its own stack (its own redis-server and S3 server on free loopback ports, its own
// queue prefix), so two files run at a time: the suite mostly waits (for lock expiry, reconnect backoff,
// deadlines), at about a third of the two cores run alone, and faults.test.ts alone takes as long as the
// other files together.
export default defineConfig({
  test: {
    include: ['test/faults/**/*.test.ts'],
    testTimeout: 300_000,
    hookTimeout: 300_000,
    fileParallelism: true,
    maxWorkers: 2,
    pool: 'forks',
  },
});
