// held-out.json beside a shipped model: the images of patients that nothing in its training, checkpoint,
// threshold or temperature selection read (written by the ship step; read by the demo and the INT8 parity check).
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';

export const HELD_OUT_FILE = 'held-out.json';

export interface HeldOutFile {
  runId: string;
  /** Where the training images were read from; `images[].path` is relative to that folder (CLASS/file). */
  data?: string;
  images: { path: string; label: number; patient: string }[];
}

/** The model's held-out.json, or undefined when it holds none out (models before 2.1.0). */
export async function readHeldOut(modelDir: string): Promise<HeldOutFile | undefined> {
  const text = await readFile(join(modelDir, HELD_OUT_FILE), 'utf8').catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return undefined;
    throw err;
  });
  return text === undefined ? undefined : (JSON.parse(text) as HeldOutFile);
}
