import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Queue, Worker } from 'bullmq';
import { afterAll, describe, expect, it } from 'vitest';
import { fleetNote } from '../../src/cli/progress.js';
import { createWorkerRedis } from '../../src/shared/redis-connection.js';
import { HeartbeatWriter, heartbeatKeys, readHeartbeats } from '../../src/worker/heartbeat.js';
import { testConfig, testRedis } from '../helpers/services.js';

/** A worker process's heartbeat on a real Redis: its phase, its sandbox crashes, and gone when it stops. */
describe('worker heartbeat', () => {
  const config = testConfig();
  const reader = testRedis(config);
  const dir = mkdtempSync(path.join(os.tmpdir(), 'cxr-beat-'));
  afterAll(async () => {
    reader.disconnect();
    rmSync(dir, { recursive: true, force: true });
  });
  const beats = () => readHeartbeats(reader, config.queuePrefix);
  const until = async (what: string, ok: () => Promise<boolean>) => {
    for (let i = 0; i < 100; i++)
      if (await ok()) return;
      else await new Promise((r) => setTimeout(r, 50));
    throw new Error(`timed out waiting for ${what}`);
  };

  it('says loading, then idle or scoring from the jobs held; counts sandboxes that died under a job; removed on stop', async () => {
    let held = 0;
    const writer = new HeartbeatWriter(createWorkerRedis(config.redisUrl), config.queuePrefix, () => held).start();
    await until('a beat', async () => (await beats()).length === 1);
    expect((await beats())[0]).toMatchObject({ pid: process.pid, phase: 'starting', crashes: 0 });
    writer.setPhase('loading');
    await until('loading', async () => (await beats())[0]?.phase === 'loading');
    expect(fleetNote(await beats(), Date.now())).toMatch(/^1 worker loading the model \(\d+s\)$/);
    held = 1;
    writer.setPhase('running');
    await until('scoring', async () => (await beats())[0]?.phase === 'scoring');

    // A real sandboxed processor that dies: BullMQ fails its job with "Unexpected exit code".
    const file = path.join(dir, 'dies.cjs');
    writeFileSync(file, 'module.exports = async () => process.exit(3);\n');
    const connection = createWorkerRedis(config.redisUrl);
    const queue = new Queue('crash', { connection, prefix: config.queuePrefix });
    const worker = new Worker('crash', file, {
      connection: createWorkerRedis(config.redisUrl),
      prefix: config.queuePrefix,
    });
    writer.watch([worker]);
    const failed = new Promise<Error>((r) => worker.once('failed', (_j, err) => r(err)));
    await queue.add('batch', { runId: 'r', batch: 0 });
    expect((await failed).message).toMatch(/^Unexpected exit code: 3/);
    writer.setPhase('running');
    await until('the crash counted', async () => (await beats())[0]?.crashes === 1);
    expect(fleetNote(await beats(), Date.now())).toMatch(/^batches crash their process \(1 in the last/);
    await worker.close();
    await queue.close();
    connection.disconnect();

    await writer.stop();
    expect(await beats()).toEqual([]);
    expect(await reader.exists(heartbeatKeys(config.queuePrefix).beat(`${os.hostname()}:${process.pid}`))).toBe(0);
  });
});
