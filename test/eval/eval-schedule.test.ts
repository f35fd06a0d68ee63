import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { EVAL_QUEUE, type EvalJobData } from '../../src/eval/types.js';
import { childEnv, testConfig, testRedis } from '../helpers/services.js';
import { runCli } from '../helpers/cli.js';

describe('cxr schedule (real Redis)', () => {
  let redis: Redis;
  let queue: Queue;
  let env: NodeJS.ProcessEnv;
  const args = (extra: string[] = []) => [
    'schedule',
    'eval',
    '--data',
    's3://labelled/set/',
    '--out',
    's3://evals/root',
    '--cron',
    '0 2 * * *',
    '--tz',
    'Europe/Berlin',
    '--name',
    'nightly',
    ...extra,
  ];

  beforeAll(() => {
    const config = testConfig();
    env = childEnv(config);
    redis = testRedis(config);
    queue = new Queue(EVAL_QUEUE, { connection: redis, prefix: config.queuePrefix });
  });
  afterAll(async () => {
    await queue?.close();
    redis?.disconnect();
  });

  it('4 processes upserting the same schedule at once leave one scheduler and one delayed job', async () => {
    await Promise.all(Array.from({ length: 4 }, () => runCli(args(), env)));
    const schedulers = await queue.getJobSchedulers();
    expect(schedulers.map((s) => s.key)).toEqual(['nightly']);
    expect(schedulers[0]).toMatchObject({ pattern: '0 2 * * *', tz: 'Europe/Berlin' });
    const delayed = await queue.getDelayed();
    expect(delayed).toHaveLength(1);
    expect(delayed[0].name).toBe('eval');
    expect(await queue.getJobCounts('waiting', 'active', 'prioritized')).toEqual({
      waiting: 0,
      active: 0,
      prioritized: 0,
    });
    // The next firing is at 02:00 Berlin time.
    const next = new Date(schedulers[0].next!);
    expect(
      new Intl.DateTimeFormat('en-GB', { timeZone: 'Europe/Berlin', hour: '2-digit', minute: '2-digit' }).format(next),
    ).toBe('02:00');
  });

  it('upserting again with other options updates in place; list shows it; remove deletes scheduler and job', async () => {
    await Promise.all([
      runCli(args(['--margin', '0.05', '--webhook', 'http://127.0.0.1:9/hook']), env),
      runCli(args(['--margin', '0.05', '--webhook', 'http://127.0.0.1:9/hook']), env),
    ]);
    const schedulers = await queue.getJobSchedulers();
    expect(schedulers).toHaveLength(1);
    expect(schedulers[0].template?.data as EvalJobData).toMatchObject({
      margin: 0.05,
      webhook: 'http://127.0.0.1:9/hook',
      name: 'nightly',
      tz: 'Europe/Berlin',
    });
    const delayed = await queue.getDelayed();
    expect(delayed).toHaveLength(1);
    expect((delayed[0].data as EvalJobData).margin).toBe(0.05);

    const listed = (await runCli(['schedule', 'list'], env)).stdout;
    expect(listed).toContain('nightly');
    expect(listed).toContain('0 2 * * *');
    expect(listed).toContain('s3://labelled/set/');

    await runCli(['schedule', 'remove', 'nightly'], env);
    expect(await queue.getJobSchedulers()).toEqual([]);
    expect(await queue.getDelayed()).toEqual([]);
    await expect(runCli(['schedule', 'remove', 'nightly'], env)).rejects.toThrow(/no schedule named nightly/);
  });

  it('rejects a bad cron pattern or name without creating anything', async () => {
    await expect(
      runCli(
        [
          'schedule',
          'eval',
          '--data',
          's3://labelled/set/',
          '--out',
          's3://evals/root',
          '--cron',
          'not a cron',
          '--name',
          'bad',
        ],
        env,
      ),
    ).rejects.toThrow();
    await expect(runCli(args(['--name', 'bad name!']), env)).rejects.toThrow(/--name/);
    expect(await queue.getJobSchedulers()).toEqual([]);
  });
});
