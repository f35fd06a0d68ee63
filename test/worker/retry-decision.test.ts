import { Queue, QueueEvents, UnrecoverableError, Worker, type Job } from 'bullmq';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TransientError, UsageError, UserError } from '../../src/shared/errors.js';
import { decidingRetries, jobError } from '../../src/shared/retry-decision.js';
import { testConfig } from '../helpers/services.js';

describe('the retry decision (the consumer of `retryable`)', () => {
  it("turns a person's mistake into an UnrecoverableError with the same message, the error as its cause", () => {
    for (const err of [new UserError('s3://b/x is not an S3 URI'), new UsageError('--batch-size must be > 0')]) {
      const out = jobError(err);
      expect(out).toBeInstanceOf(UnrecoverableError);
      expect((out as Error).message).toBe(err.message);
      expect((out as Error).cause).toBe(err);
    }
  });

  it('passes a retryable error, one that does not say, and an UnrecoverableError through as they are', () => {
    for (const err of [new TransientError('still listing'), new Error('ECONNRESET'), new UnrecoverableError('x'), 'x'])
      expect(jobError(err)).toBe(err);
  });
});

describe('a BullMQ worker whose processor decides retries', () => {
  const config = testConfig();
  const connection = new Redis(config.redisUrl, { maxRetriesPerRequest: null });
  const queue = new Queue('retry-decision', { connection, prefix: config.queuePrefix });
  const events = new QueueEvents('retry-decision', { connection, prefix: config.queuePrefix });
  const starts = new Map<string, number>();
  let worker: Worker;

  beforeAll(async () => {
    await events.waitUntilReady();
    worker = new Worker(
      'retry-decision',
      decidingRetries(async (job: Job) => {
        starts.set(job.id!, (starts.get(job.id!) ?? 0) + 1);
        if (job.name === 'mistake') throw new UserError(`${job.id}: bad input`);
        if (job.name === 'passing' && job.attemptsMade < 2) throw new TransientError('not yet');
        return 'ok';
      }),
      { connection, prefix: config.queuePrefix },
    );
  });

  afterAll(async () => {
    await worker.close();
    await events.close();
    await queue.obliterate({ force: true });
    await queue.close();
    connection.disconnect();
  });

  it('fails a job that cannot succeed on its first start, with its attempts unspent; retries a passing condition', async () => {
    const opts = { attempts: 3, backoff: { type: 'fixed', delay: 10 } };
    const mistake = await queue.add('mistake', {}, { ...opts, jobId: 'mistake-1' });
    const passing = await queue.add('passing', {}, { ...opts, jobId: 'passing-1' });

    await expect(mistake.waitUntilFinished(events, 30_000)).rejects.toThrow('mistake-1: bad input');
    expect(await passing.waitUntilFinished(events, 30_000)).toBe('ok');

    const failed = (await queue.getJob('mistake-1'))!;
    expect(await failed.getState()).toBe('failed');
    expect(failed.attemptsMade).toBe(1);
    expect(starts.get('mistake-1')).toBe(1);
    expect(starts.get('passing-1')).toBe(3);
  });
});
