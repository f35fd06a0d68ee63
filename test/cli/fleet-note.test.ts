import { describe, expect, it } from 'vitest';
import { barFields, fleetNote } from '../../src/cli/progress.js';
import { EXIT_CODES, verdictLine } from '../../src/run/index.js';
import { redisHostPort } from '../../src/shared/redis-connection.js';
import type { Heartbeat } from '../../src/worker/heartbeat.js';

const now = 1_000_000_000;
const beat = (phase: Heartbeat['phase'], sinceS: number, crashes = 0, pid = 1): Heartbeat => ({
  host: 'h',
  pid,
  phase,
  since: now - sinceS * 1000,
  crashes,
  at: now - 1000,
});

describe('fleetNote: what the heartbeats say when a run does not move', () => {
  it('names loading workers and the longest load; crashes come first; no beat is no worker', () => {
    expect(fleetNote([beat('loading', 70, 0, 1), beat('loading', 20, 0, 2)], now)).toBe(
      '2 workers loading the model (70s)',
    );
    expect(fleetNote([beat('loading', 130)], now)).toBe('1 worker loading the model (2m10s)');
    expect(fleetNote([beat('scoring', 5, 3), beat('loading', 10, 0, 2)], now)).toBe(
      'batches crash their process (3 in the last 2m00s): see failures (cxr status)',
    );
    expect(fleetNote([], now)).toBe('no worker alive (no heartbeat under this queue prefix)');
    expect(fleetNote([beat('starting', 4)], now)).toBe('1 worker starting (4s)');
    expect(fleetNote([beat('idle', 40)], now)).toBeUndefined();
  });

  it('replaces the generic stall hint once the run is quiet, not before', () => {
    const base = {
      done: 0,
      startDone: 0,
      total: 10,
      elapsedMs: 120_000,
      sinceWorkerMs: 0,
      status: 'running',
      redis: 'redis://h:6379',
      fleet: '2 workers loading the model (1m10s)',
    };
    expect(barFields({ ...base, sinceProgressMs: 120_000 }).status).toBe('2 workers loading the model (1m10s)');
    expect(barFields({ ...base, sinceProgressMs: 1000 }).status).toBe('running');
    expect(barFields({ ...base, fleet: undefined, sinceProgressMs: 120_000 }).status).toMatch(
      /^no worker has taken a job for 2m00s/,
    );
  });
});

describe('lost Redis while waiting', () => {
  it('one line with HOST:PORT (no password), what to run when it is back; exit code 6', () => {
    const redis = redisHostPort('redis://user:s3cret@cache.internal:6380/0');
    expect(redis).toBe('cache.internal:6380');
    expect(redisHostPort('rediss://:pw@host')).toBe('host:6379');
    expect(verdictLine('r1', { kind: 'redis-lost', redis })).toBe(
      'lost Redis at cache.internal:6380 while waiting; the run goes on; `cxr status r1` or `cxr score --resume r1` when it is back',
    );
    expect(EXIT_CODES['redis-lost']).toBe(6);
    expect(new Set(Object.values(EXIT_CODES)).size).toBe(Object.keys(EXIT_CODES).length);
  });
});
