import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));

/** Repository root: this file lives in src/shared/ or dist/shared/, two levels down. */
export function repoRoot(): string {
  return resolve(here, '..', '..');
}
