import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { TestProject } from 'vitest/node';
import { ensureLocalStack } from '../src/shared/services/local-stack.js';

declare module 'vitest' {
  export interface ProvidedContext {
    redisUrl: string;
    s3Endpoint: string;
  }
}

/** Real services for the tests: REDIS_URL / S3_ENDPOINT when set, else redis-server and s3rver on free loopback ports. */
export default async function setup(project: TestProject) {
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'cxr-test-s3-'));
  const stack = await ensureLocalStack(process.env, dataDir);
  project.provide('redisUrl', stack.redisUrl);
  project.provide('s3Endpoint', stack.s3Endpoint);
  process.stderr.write(`test services: ${stack.started.join('; ') || 'from REDIS_URL / S3_ENDPOINT'}\n`);
  return async () => {
    await stack.stop();
    rmSync(dataDir, { recursive: true, force: true });
  };
}
