import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';

export const CLASS_NAMES: [string, string] = ['NORMAL', 'PNEUMONIA'];

export interface ImageItem {
  path: string;
  label: number; // index into CLASS_NAMES
  sha256: string;
  /** Same as sha256: byte-identical files share a group so they never straddle the split. */
  group: string;
}

/** Lists <data>/<CLASS>/*.jpeg|jpg|png with labels and content hashes, sorted by path. */
export async function listDataset(dataDir: string, classNames: readonly string[] = CLASS_NAMES): Promise<ImageItem[]> {
  const items: ImageItem[] = [];
  for (const [label, cls] of classNames.entries()) {
    const dir = join(dataDir, cls);
    const files = (await readdir(dir)).filter((f) => /\.(jpe?g|png)$/i.test(f)).sort();
    for (const f of files) {
      const path = join(dir, f);
      const sha256 = createHash('sha256').update(await readFile(path)).digest('hex');
      items.push({ path, label, sha256, group: sha256 });
    }
  }
  return items;
}
