import { mkdir, open, rm, stat } from 'node:fs/promises';
import { dirname } from 'node:path';

const exists = (p: string) =>
  stat(p).then(
    () => true,
    () => false,
  );

/**
 * Runs `fn` while holding `${target}.lock` (exclusive create), so concurrent processes build a file
 * once: a waiter returns as soon as `target` exists. A lock older than `staleMs` is taken over.
 */
export async function onceAcrossProcesses(
  target: string,
  fn: () => Promise<void>,
  staleMs = 15 * 60_000,
  pollMs = 500,
): Promise<void> {
  const lock = `${target}.lock`;
  await mkdir(dirname(target), { recursive: true });
  for (;;) {
    if (await exists(target)) return;
    try {
      const h = await open(lock, 'wx');
      await h.close();
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const age = await stat(lock).then(
        (s) => Date.now() - s.mtimeMs,
        () => 0,
      );
      if (age > staleMs) await rm(lock, { force: true });
      else await new Promise((r) => setTimeout(r, pollMs));
    }
  }
  try {
    if (!(await exists(target))) await fn();
  } finally {
    await rm(lock, { force: true });
  }
}
