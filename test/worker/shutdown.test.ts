import { fork, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { Queue, Worker } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConnectionWatch } from '../../src/shared/connection-watch.js';
import { downFor, within } from '../../src/shared/deadline.js';
import { createLogger } from '../../src/shared/logger.js';
import { createWorkerRedis } from '../../src/shared/redis-connection.js';
import type { LocalService } from '../../src/shared/services/child-service.js';
import { freeLoopbackPort } from '../../src/shared/services/free-port.js';
import { startRedisServer } from '../../src/shared/services/redis-server.js';
import { closeWorkers, describeHeld, HeldJobs, sandboxChildren } from '../../src/worker/shutdown.js';

/**
 * The deadlines of a worker's shutdown, in process, on a redis-server of its own (so it can be killed): a
 * job that never ends is abandoned after the grace, and named; Redis lost during the grace ends it early.
 */
describe('closeWorkers: every close has a deadline', () => {
  let redis: LocalService;
  let url: string;
  const logger = createLogger({ role: 'test' });

  beforeAll(async () => {
    const port = await freeLoopbackPort();
    redis = await startRedisServer(port);
    url = `redis://127.0.0.1:${port}`;
  });
  const connections: { disconnect(): void }[] = [];
  afterAll(async () => {
    for (const c of connections) c.disconnect();
    await redis?.stop();
  });

  /** A worker whose jobs never finish (until the test ends), with a job of run `runId`, batch 3, held. */
  async function holding(runId: string) {
    const prefix = `s${randomUUID().slice(0, 6)}`;
    const watch = new ConnectionWatch(logger, url);
    const [connection, workerConnection] = [createWorkerRedis(url, 200), createWorkerRedis(url, 200)];
    for (const c of [connection, workerConnection]) c.on('error', () => undefined);
    watch.attach(connection);
    connections.push(connection, workerConnection);
    const queue = new Queue('score', { connection, prefix });
    queue.on('error', () => undefined);
    const worker = new Worker('score', () => new Promise(() => undefined), {
      connection: workerConnection,
      prefix,
      concurrency: 1,
    });
    worker.on('error', () => undefined);
    const held = new HeldJobs().watch([worker]);
    await queue.add('batch', { runId, batch: 3 });
    await new Promise<void>((r) => worker.once('active', () => r()));
    return { worker, held, watch, queue, connection };
  }

  it('a job that does not finish is abandoned after the grace, named by run and batch; the workers close', async () => {
    const { worker, held, queue } = await holding('r-grace');
    const t = Date.now();
    const r = await closeWorkers([worker], held, { graceMs: 500, forceMs: 2000 });
    const ms = Date.now() - t;
    expect(r).toMatchObject({ closed: true, why: 'grace-ended' });
    expect(r.abandoned).toEqual([expect.objectContaining({ name: 'batch', runId: 'r-grace', batch: 3 })]);
    expect(describeHeld(r.abandoned)).toBe('batch 3 of run r-grace');
    expect(ms).toBeGreaterThanOrEqual(450);
    expect(ms).toBeLessThan(2600);
    await queue.close();
  });

  it('Redis lost during a long grace ends it after lostMs; the forced close gives up at its own deadline', async () => {
    const { worker, held, watch } = await holding('r-lost');
    await within(new Promise((r) => setTimeout(r, 300)), 1000); // the watch has seen every connection ready
    expect(watch.connected).toBe(true);
    const closing = closeWorkers([worker], held, {
      graceMs: 60_000,
      forceMs: 1500,
      redisConnected: () => watch.connected,
      lostMs: 1000,
    });
    const t = Date.now();
    await redis.stop();
    const r = await closing;
    const ms = Date.now() - t;
    expect(r.why).toBe('redis-lost');
    expect(r.abandoned.map((j) => j.runId)).toEqual(['r-lost']);
    expect(ms).toBeLessThan(1000 + 500 + 1500 + 1000);
    redis = await startRedisServer(Number(new URL(url).port));
  });
});

describe('within', () => {
  it('says timed-out after its deadline, or at once when aborted; passes a value or an error through', async () => {
    const never = new Promise<never>(() => undefined);
    const t = Date.now();
    expect(await within(never, 200)).toEqual({ kind: 'timed-out' });
    expect(Date.now() - t).toBeGreaterThanOrEqual(190);
    const stop = new AbortController();
    setTimeout(() => stop.abort(), 50);
    const t2 = Date.now();
    expect(await within(never, 10_000, stop.signal)).toEqual({ kind: 'timed-out' });
    expect(Date.now() - t2).toBeLessThan(1000);
    expect(await within(Promise.resolve(7), 1000)).toEqual({ kind: 'done', value: 7 });
    const err = new Error('x');
    expect(await within(Promise.reject(err), 1000)).toEqual({ kind: 'failed', error: err });
  });

  it('with ms Infinity waits for the promise or the abort only (no 1 ms overflow timer)', async () => {
    const later = new Promise<string>((r) => setTimeout(() => r('late'), 100));
    expect(await within(later, Infinity)).toEqual({ kind: 'done', value: 'late' });
    const stop = new AbortController();
    setTimeout(() => stop.abort(), 100);
    const t = Date.now();
    expect(await within(new Promise<never>(() => undefined), Infinity, stop.signal)).toEqual({ kind: 'timed-out' });
    expect(Date.now() - t).toBeGreaterThanOrEqual(90);
  });
});

describe('downFor', () => {
  it('aborts once the connection has been down for ms in a row; a reconnect in between starts the count again', async () => {
    let up = true;
    const t = Date.now();
    const lost = downFor(() => up, 600);
    setTimeout(() => (up = false), 100);
    setTimeout(() => (up = true), 500); // down 400 ms: not lost
    setTimeout(() => (up = false), 800);
    await new Promise<void>((r) => lost.signal.addEventListener('abort', () => r(), { once: true }));
    // down again from 800 ms (seen at the next 250 ms poll), lost 600 ms after that
    expect(Date.now() - t).toBeGreaterThanOrEqual(1400);
    lost.stop();
    const stopped = downFor(() => false, 100);
    stopped.stop();
    await new Promise((r) => setTimeout(r, 400));
    expect(stopped.signal.aborted).toBe(false);
  });
});

describe('sandboxChildren', () => {
  it("finds this process's forks of BullMQ's sandbox entry, and no other child", async () => {
    const main = join(dirname(createRequire(import.meta.url).resolve('bullmq')), 'classes', 'main.js');
    // A fork of BullMQ's main.js waits for its processor over IPC, as a sandbox does before its first job.
    const sandbox = fork(main, [], { stdio: 'ignore' });
    const other = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60000)'], { stdio: 'ignore' });
    try {
      await new Promise((r) => setTimeout(r, 300));
      const found = sandboxChildren();
      expect(found).toContain(sandbox.pid);
      expect(found).not.toContain(other.pid);
    } finally {
      sandbox.kill('SIGKILL');
      other.kill('SIGKILL');
    }
  });
});
