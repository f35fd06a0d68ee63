import { describe, expect, it } from 'vitest';
import { barFields, NO_WORKER_HINT_MS, type BarInput } from '../../src/cli/progress.js';
import { LogGate } from '../../src/cli/log-gate.js';

const base: BarInput = {
  done: 0,
  startDone: 0,
  total: 100,
  elapsedMs: 5_000,
  sinceWorkerMs: 0,
  sinceProgressMs: 5_000,
  status: 'running',
  redis: 'redis://127.0.0.1:6379',
};

describe('progress bar fields', () => {
  it('shows no ETA before anything is done, an estimate while running, and the time taken at the end', () => {
    expect(barFields(base).left).toBe('ETA --');
    expect(barFields({ ...base, done: 25, elapsedMs: 10_000 })).toMatchObject({ rate: '2.5', left: 'ETA 30s' });
    expect(barFields({ ...base, done: 100, elapsedMs: 150_000 }).left).toBe('took 2m30s');
  });

  it('counts the rate from where a resumed run started', () => {
    expect(barFields({ ...base, startDone: 60, done: 70, elapsedMs: 10_000 })).toMatchObject({
      rate: '1.0',
      left: 'ETA 30s',
    });
  });

  it('says what to check when no worker is on the queue, or none has taken a job, for 30 s', () => {
    expect(barFields({ ...base, sinceWorkerMs: NO_WORKER_HINT_MS - 1 }).status).toBe('running');
    expect(barFields({ ...base, sinceWorkerMs: NO_WORKER_HINT_MS }).status).toBe(
      "no worker on the score queue for 30s: is a 'cxr worker' running against redis://127.0.0.1:6379?",
    );
    expect(barFields({ ...base, sinceProgressMs: 45_000 }).status).toMatch(
      /^no worker has taken a job for 45s: is a 'cxr worker' running/,
    );
    // Progress was made: a slow batch is not a missing worker.
    expect(barFields({ ...base, done: 8, sinceProgressMs: 45_000 }).status).toBe('running');
  });

  it("says the model is loading while the command's own worker loads it, instead of asking for a worker", () => {
    const loading = { note: 'loading the model (first time: about 105 s)', untilMs: 315_000 };
    expect(barFields({ ...base, loading }).status).toBe(loading.note);
    expect(barFields({ ...base, loading, elapsedMs: 100_000, sinceProgressMs: 100_000 }).status).toBe(loading.note);
    // Something was scored: the model is loaded.
    expect(barFields({ ...base, loading, done: 16, elapsedMs: 100_000, sinceProgressMs: 100_000 }).status).toBe(
      'running',
    );
    // Far past the expected load, or no worker at all: the usual hint.
    expect(barFields({ ...base, loading, elapsedMs: 400_000, sinceProgressMs: 400_000 }).status).toMatch(
      /^no worker has taken a job for 6m40s/,
    );
    expect(barFields({ ...base, loading, sinceWorkerMs: NO_WORKER_HINT_MS }).status).toMatch(
      /^no worker on the score queue/,
    );
  });
});

describe('log gate', () => {
  it('holds lines while a bar is drawn and prints every one after it, in order', () => {
    const out: string[] = [];
    const gate = new LogGate({ write: (s: string) => out.push(s) });
    gate.write('a\n');
    const release = gate.hold();
    gate.write('b\n');
    gate.write('c\n');
    expect(out).toEqual(['a\n']);
    release();
    gate.write('d\n');
    expect(out).toEqual(['a\n', 'b\n', 'c\n', 'd\n']);
  });
});

describe("the demo's model-load note", () => {
  it('says "first time" with the trial figure before any load was measured here, then the last measured load', async () => {
    const { mkdtemp, rm } = await import('node:fs/promises');
    const { tmpdir } = await import('node:os');
    const path = await import('node:path');
    const { FIRST_LOAD_ESTIMATE_S, modelLoadNote, readLastModelLoad, recordModelLoad } =
      await import('../../src/cli/model-load-note.js');
    const dir = await mkdtemp(path.join(tmpdir(), 'cxr-load-note-'));
    try {
      expect(await readLastModelLoad(dir)).toBeUndefined();
      expect(modelLoadNote(undefined)).toEqual({
        note: `loading the model (first time: about ${FIRST_LOAD_ESTIMATE_S} s)`,
        untilMs: FIRST_LOAD_ESTIMATE_S * 3000,
      });
      await recordModelLoad(dir, { loads: 0, meanSeconds: 0 }); // a run that loaded nothing records nothing
      expect(await readLastModelLoad(dir)).toBeUndefined();
      await recordModelLoad(dir, { loads: 2, meanSeconds: 11.6 });
      const last = await readLastModelLoad(dir);
      expect(last).toBe(11.6);
      expect(modelLoadNote(last)).toEqual({ note: 'loading the model (about 12 s last time)', untilMs: 120_000 });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
