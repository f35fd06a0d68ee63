import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { LoadingNote } from './progress.js';

/**
 * What the demo's bar says while its own worker loads the model, instead of asking whether a worker runs.
 * The first demo on a machine also fetches the ImageNet weights (95 MB) and prepares the engine: issue 25's
 * newcomer trial saw the bar at 0% for about 105 s. Later demos say how long the load took last time,
 * as the run's metrics measured it (throughput.coldStart), remembered in `.cxr/`.
 */
export const FIRST_LOAD_ESTIMATE_S = 105;

/** The note for a load expected to take about `lastLoadS` seconds (undefined: never measured here). Pure. */
export function modelLoadNote(lastLoadS: number | undefined): LoadingNote {
  const expected = lastLoadS ?? FIRST_LOAD_ESTIMATE_S;
  const note =
    lastLoadS === undefined
      ? `loading the model (first time: about ${FIRST_LOAD_ESTIMATE_S} s)`
      : `loading the model (about ${Math.max(1, Math.round(lastLoadS))} s last time)`;
  // Three times the expected load (and at least 2 minutes) before the usual stall hint comes back.
  return { note, untilMs: Math.max(120_000, expected * 3000) };
}

const file = (stateDir: string) => path.join(stateDir, 'demo-model-load.json');

/** The last measured model load, or undefined when none was recorded (or the file is unreadable). */
export async function readLastModelLoad(stateDir: string): Promise<number | undefined> {
  try {
    const s = (JSON.parse(await readFile(file(stateDir), 'utf8')) as { meanSeconds?: unknown }).meanSeconds;
    return typeof s === 'number' && Number.isFinite(s) && s > 0 ? s : undefined;
  } catch {
    return undefined;
  }
}

/** Remembers a run's mean model load (from its metrics), when it loaded one. */
export async function recordModelLoad(
  stateDir: string,
  coldStart: { loads: number; meanSeconds: number },
): Promise<void> {
  if (coldStart.loads < 1 || !(coldStart.meanSeconds > 0)) return;
  await mkdir(stateDir, { recursive: true });
  await writeFile(
    file(stateDir),
    JSON.stringify({ meanSeconds: coldStart.meanSeconds, at: new Date().toISOString() }) + '\n',
  );
}
