import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';

/** JSON with object keys sorted at every level, so equal values hash equally. */
export function canonicalJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonicalJson).join(',')}]`;
  if (v && typeof v === 'object') {
    return `{${Object.keys(v)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonicalJson((v as Record<string, unknown>)[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(v);
}

const sha = (b: string | Uint8Array): string => createHash('sha256').update(b).digest('hex');

/**
 * Model id: first 16 hex of sha256 over the backbone checksum-file hash, the head weight bytes and
 * the metadata (its own `id` field left out).
 */
export function computeModelId(
  backboneSha256: string,
  headWeights: Uint8Array,
  metadata: Record<string, unknown>,
): string {
  const { id: _omit, ...rest } = metadata;
  return sha(`${backboneSha256}\n${sha(headWeights)}\n${sha(canonicalJson(rest))}`).slice(0, 16);
}

/** The content id of a local model folder with this metadata: the one place that says which files it covers. */
export async function modelIdOfDir(
  dir: string,
  backboneSha256: string,
  metadata: Record<string, unknown>,
): Promise<string> {
  return computeModelId(backboneSha256, await readFile(join(dir, 'weights.bin')), metadata);
}
