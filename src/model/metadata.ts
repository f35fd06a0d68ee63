import { readFile } from 'node:fs/promises';
import { join } from 'node:path';

/** metadata.json next to the head weights. Extra fields (recipe, metrics) are kept as they are. */
export interface HeadMetadata {
  id: string;
  name: string;
  version: string;
  threshold: number;
  thresholdRule: string;
  classNames: [string, string];
  inputSize: number;
  backbone: { package: string; sumsFile: string; sha256: string; featureLayer: string };
  [extra: string]: unknown;
}

export async function readMetadata(dir: string): Promise<HeadMetadata> {
  const path = join(dir, 'metadata.json');
  const m = JSON.parse(await readFile(path, 'utf8')) as Partial<HeadMetadata>;
  const bad: string[] = [];
  if (typeof m.id !== 'string') bad.push('id');
  if (typeof m.name !== 'string') bad.push('name');
  if (typeof m.version !== 'string') bad.push('version');
  if (typeof m.threshold !== 'number' || !(m.threshold >= 0 && m.threshold <= 1)) bad.push('threshold');
  if (!Array.isArray(m.classNames) || m.classNames.length !== 2) bad.push('classNames');
  if (typeof m.inputSize !== 'number') bad.push('inputSize');
  if (typeof m.backbone?.sha256 !== 'string') bad.push('backbone.sha256');
  if (bad.length) throw new Error(`${path}: missing or invalid ${bad.join(', ')}`);
  return m as HeadMetadata;
}
