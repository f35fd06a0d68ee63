import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { S3Client } from '@aws-sdk/client-s3';
import { loadConfig } from '../shared/config.js';
import { createS3Client } from '../shared/s3/client.js';
import { ensureBucket } from '../shared/s3/bucket.js';
import { startS3Server, useLocalS3Credentials } from '../shared/services/s3-server.js';
import { discoverPrefixes, listingPages, parallelListingPages, type SourcePage } from '../run/index.js';
import { startLatencyProxy, type LatencyProxy } from './latency-proxy.js';
import { fillS3rverBucket } from './s3rver-fill.js';
import { childPidsMatching, cpuSecondsOf } from './cpu-time.js';

/**
 * npm run bench:list [-- --keys 32000 --prefixes 16 --latency-ms 20,200 --parallel 1,4,8,16 --rounds 3]
 * Listing keys/s of the producer's listing code on a private s3rver holding K empty objects under P
 * sub-prefixes: one prefix page after page; `--list-depth 1` (sub-prefixes found with delimiters, listed
 * 8 at once as the producer does); `--shard-prefixes` with the P sub-prefixes at each parallelism. Once
 * direct, then through a proxy that delays each request by each latency (see latency-proxy.ts), with the
 * CPU milliseconds s3rver and this process spent per page of the single listing. Every parallel listing
 * must yield the keys of the single one, in the same order. Rounds alternate the clients, so a change in
 * the machine's load falls on all of them; the JSON line at the end holds the median of each figure.
 */
const argText = (name: string): string | undefined => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : undefined;
};
const keyCount = Number(argText('keys') ?? 32_000);
const roundCount = Number(argText('rounds') ?? 3);
const prefixCount = Number(argText('prefixes') ?? 16);
const latencies = (argText('latency-ms') ?? '20,200').split(',').map(Number);
const parallels = (argText('parallel') ?? '1,4,8,16').split(',').map(Number);
const PRODUCER_PARALLEL = 8; // create-run.ts: listParallel's default
const log = (s: string) => process.stderr.write(s + '\n');

/** The keys a listing yields, as a count and a digest of their sequence. */
async function drain(pages: AsyncGenerator<SourcePage>): Promise<{ keys: number; digest: string }> {
  const hash = createHash('sha1');
  let keys = 0;
  for await (const p of pages) {
    for (const o of p.images) {
      keys++;
      hash.update(o.key + '\n');
    }
  }
  return { keys, digest: hash.digest('hex') };
}

type Listing = [name: string, list: () => AsyncGenerator<SourcePage>];

/** The ways the producer lists `list/`: one prefix, `--list-depth 1`, and `--shard-prefixes` at each parallelism. */
function listings(s3: S3Client, bucket: string): Listing[] {
  const shards = Array.from({ length: prefixCount }, (_, p) => ({ prefix: `list/${subPrefix(p)}/` }));
  return [
    ['sequential', () => listingPages(s3, { bucket, prefix: 'list/' })],
    [
      'depth1',
      async function* () {
        yield* parallelListingPages(s3, bucket, await discoverPrefixes(s3, bucket, 'list/', 1), PRODUCER_PARALLEL);
      },
    ],
    ...parallels.map((n): Listing => [`shards${prefixCount}x${n}`, () => parallelListingPages(s3, bucket, shards, n)]),
  ];
}

/**
 * One round through one client: keys/s of each listing, each checked against the single listing's keys and
 * order, and the CPU ms s3rver and this process spent per page of the single listing.
 */
async function round(
  s3: S3Client,
  bucket: string,
  label: string,
  serverPids: number[],
  expected: string,
): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const [name, list] of listings(s3, bucket)) {
    const server = cpuSecondsOf(serverPids);
    const client = process.cpuUsage();
    const t = performance.now();
    const got = await drain(list());
    const seconds = (performance.now() - t) / 1000;
    if (got.keys !== keyCount || got.digest !== expected)
      throw new Error(
        `${label} ${name}: listed ${got.keys} keys, not the ${keyCount} keys of one listing in its order`,
      );
    out[name] = Math.round(got.keys / seconds);
    if (name === 'sequential') {
      const pages = Math.ceil(keyCount / 1000); // ListObjectsV2's default page
      const cpu = process.cpuUsage(client);
      out.serverCpuMsPerPage = Math.round(((cpuSecondsOf(serverPids) - server) * 1000) / pages);
      out.clientCpuMsPerPage = Math.round((cpu.user + cpu.system) / 1000 / pages);
    }
    log(
      `${label} ${name}: ${out[name]} keys/s (${seconds.toFixed(2)} s, ${(out[name] / out.sequential).toFixed(2)}x one prefix)`,
    );
  }
  return out;
}

/** Per figure, the median over rounds. Pure. */
function medians(rounds: readonly Record<string, number>[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const name of Object.keys(rounds[0] ?? {})) {
    const v = rounds.map((r) => r[name]).sort((a, b) => a - b);
    out[name] = v.length % 2 ? v[(v.length - 1) / 2] : Math.round((v[v.length / 2 - 1] + v[v.length / 2]) / 2);
  }
  return out;
}

const subPrefix = (p: number) => `p${String(p).padStart(2, '0')}`;

async function main(): Promise<void> {
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'cxr-bench-list-'));
  const server = await startS3Server(dataDir);
  useLocalS3Credentials(process.env);
  const client = (endpoint: string) => createS3Client(loadConfig({ ...process.env, S3_ENDPOINT: endpoint }).s3);
  const direct = client(server.url);
  const bucket = 'list-bench';
  const proxies: LatencyProxy[] = [];
  const clients: [label: string, s3: S3Client][] = [['direct', direct]];
  try {
    await ensureBucket(direct, bucket);
    const t = performance.now();
    const keys = Array.from(
      { length: keyCount },
      (_, i) => `list/${subPrefix(i % prefixCount)}/${String(i).padStart(9, '0')}.png`,
    );
    await fillS3rverBucket(direct, dataDir, bucket, keys, 'image/png');
    log(
      `s3rver ${server.url}: ${keyCount} empty objects under ${prefixCount} sub-prefixes written in ${((performance.now() - t) / 1000).toFixed(1)} s`,
    );
    const load = () => os.loadavg().map((x) => Math.round(x * 100) / 100);
    const loadBefore = load();
    const { digest } = await drain(listingPages(direct, { bucket, prefix: 'list/' })); // also warms up JIT, s3rver and the page cache
    const serverPids = childPidsMatching(process.pid, /s3rver/);
    for (const ms of latencies) {
      const proxy = await startLatencyProxy({ host: '127.0.0.1', port: server.port }, ms);
      proxies.push(proxy);
      clients.push([`latency${ms}ms`, client(proxy.url)]);
    }
    const rounds = new Map<string, Record<string, number>[]>(clients.map(([label]) => [label, []]));
    for (let r = 1; r <= roundCount; r++) {
      for (const [label, s3] of clients)
        rounds.get(label)!.push(await round(s3, bucket, `round ${r} ${label}`, serverPids, digest));
    }
    const figures = Object.fromEntries([...rounds].map(([label, rs]) => [label, medians(rs)]));
    console.log(
      JSON.stringify({
        keys: keyCount,
        prefixes: prefixCount,
        rounds: roundCount,
        ...figures,
        loadAverage: { before: loadBefore, after: load() },
      }),
    );
  } finally {
    for (const [, s3] of clients) s3.destroy();
    for (const p of proxies) await p.close();
    await server.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

await main();
