import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { repoRoot } from '../../shared/paths.js';

const ID = /^[0-9a-f]{16}$/;
const NAME_AT_VERSION = /^[a-z0-9][a-z0-9-]*@[0-9][\w.-]*$/i;

/** True when a model reference names a shipped model by content id or name@version rather than a path. */
export const isModelRef = (ref: string): boolean => ID.test(ref) || NAME_AT_VERSION.test(ref);

/**
 * The folder under models/ whose metadata has this id (e.g. `ec3cc9117c193878`) or name@version
 * (`pneumonia-resnet50@1.0.0`); undefined when `ref` is a path or URI.
 */
export async function shippedModelDir(ref: string, root = join(repoRoot(), 'models')): Promise<string | undefined> {
  if (!isModelRef(ref)) return undefined;
  const found: string[] = [];
  for (const d of (await readdir(root, { withFileTypes: true })).filter(
    (e) => e.isDirectory() && !e.name.startsWith('.'),
  )) {
    const meta = await readFile(join(root, d.name, 'metadata.json'), 'utf8').then(
      (t) => JSON.parse(t) as { id: string; name: string; version: string },
      () => undefined,
    );
    if (!meta) continue;
    if (meta.id === ref || `${meta.name}@${meta.version}` === ref) return join(root, d.name);
    found.push(`${meta.name}@${meta.version} (${meta.id})`);
  }
  throw new Error(`model ${ref} not found: not shipped under ${root}; shipped: ${found.join(', ') || 'none'}`);
}
