import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { isScorableFile } from '../../shared/image/local-files.js';

export const CLASS_NAMES: [string, string] = ['NORMAL', 'PNEUMONIA'];

export interface ImageItem {
  path: string;
  label: number; // index into CLASS_NAMES
  sha256: string;
  /** Same as sha256: byte-identical files share a group so they never straddle the split. */
  group: string;
}

/** Lists the files of <data>/<CLASS>/ that the worker would score (isScorableFile: images, DICOM) with labels and content hashes, sorted by path. */
export async function listDataset(dataDir: string, classNames: readonly string[] = CLASS_NAMES): Promise<ImageItem[]> {
  const items: ImageItem[] = [];
  for (const [label, cls] of classNames.entries()) {
    const dir = join(dataDir, cls);
    for (const f of (await readdir(dir)).sort()) {
      const path = join(dir, f);
      if (!(await isScorableFile(path).catch(() => false))) continue;
      const sha256 = createHash('sha256')
        .update(await readFile(path))
        .digest('hex');
      items.push({ path, label, sha256, group: sha256 });
    }
  }
  return items;
}
