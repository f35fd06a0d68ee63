import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { TestProject } from 'vitest/node';
import { ensureLocalStack } from '../src/shared/services/local-stack.js';
import { containerServices } from './containers.js';

declare module 'vitest' {
  export interface ProvidedContext {
    redisUrl: string;
    s3Endpoint: string;
  }
}

/**
 * Real services for the tests: REDIS_URL / S3_ENDPOINT when set; else Redis and MinIO containers where a
 * Docker engine has their images (test/containers.ts); else redis-server and s3rver on free loopback ports.
 */
export default async function setup(project: TestProject) {
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'cxr-test-s3-'));
  const containers = await containerServices(process.env);
  // Test processes (forked after this) inherit these: MinIO's credentials reach the S3 clients.
  Object.assign(process.env, containers.env);
  const stack = await ensureLocalStack(process.env, dataDir);
  project.provide('redisUrl', stack.redisUrl);
  project.provide('s3Endpoint', stack.s3Endpoint);
  const embedded = stack.started.map((s) => `embedded ${s}`);
  process.stderr.write(`test services: ${[...containers.lines, ...embedded].join('; ')}\n`);
  return async () => {
    await stack.stop();
    await containers.stop();
    rmSync(dataDir, { recursive: true, force: true });
  };
}
