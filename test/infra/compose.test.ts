import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { repoRoot } from '../../src/shared/paths.js';

/* eslint-disable @typescript-eslint/no-explicit-any */
type Doc = Record<string, any>;

/** A compose implementation that runs offline: Debian's docker-compose 1.29, else the `docker compose` plugin. */
function composeConfig(file: string, extra: string[] = []): { code: number | null; stdout: string; stderr: string } {
  const candidates: [string, string[]][] = [
    ['docker-compose', []],
    ['docker', ['compose']],
  ];
  for (const [cmd, pre] of candidates) {
    const r = spawnSync(cmd, [...pre, '-f', file, ...extra, 'config'], { encoding: 'utf8', cwd: repoRoot() });
    if ((r.error as NodeJS.ErrnoException | undefined)?.code === 'ENOENT') continue;
    if (cmd === 'docker' && /is not a docker command|unknown command/.test(r.stderr)) continue;
    return { code: r.status, stdout: r.stdout, stderr: r.stderr };
  }
  throw new Error(
    'no compose implementation: these tests check docker-compose.yml with `docker-compose config`; apt-get install docker-compose (CI does, in .ci/run)',
  );
}

/** A compose duration ("90s", "1m30s") in seconds. */
function seconds(d: string): number {
  const m = /^(?:(\d+)m)?(?:(\d+)s)?$/.exec(d);
  if (!m || d === '') throw new Error(`not a duration: ${d}`);
  return Number(m[1] ?? 0) * 60 + Number(m[2] ?? 0);
}

describe('docker-compose.yml, checked by a real compose implementation (offline: config only)', () => {
  let services: Record<string, Doc>;
  beforeAll(() => {
    const r = composeConfig('docker-compose.yml');
    expect(r.code, r.stderr).toBe(0);
    services = parse(r.stdout).services;
  });

  it('is valid compose; workers serve health and metrics, drain within their stop grace period', () => {
    expect(Object.keys(services).sort()).toEqual(['minio', 'minio-init', 'producer', 'prometheus', 'redis', 'worker']);
    const w = services.worker;
    const port = w.environment.CXR_HTTP_PORT;
    expect(w.expose).toContain(port);
    expect(w.healthcheck.test.join(' ')).toContain(`127.0.0.1:${port}/readyz`);
    const drain = Number(w.command[w.command.indexOf('--drain-timeout') + 1]);
    expect(seconds(w.stop_grace_period)).toBeGreaterThan(drain);
    expect(services.producer.environment.REDIS_URL).toBe(w.environment.REDIS_URL);
  });

  it('prometheus scrapes every worker replica on that port', () => {
    const p = services.prometheus;
    const mount = p.volumes
      .map((v: Doc | string) => (typeof v === 'string' ? v : `${v.source}:${v.target}`))
      .find((v: string) => v.includes('prometheus.yml'));
    expect(mount).toBeDefined();
    const config = parse(readFileSync(path.join(repoRoot(), 'infra', 'prometheus', 'prometheus.yml'), 'utf8'));
    const job = config.scrape_configs.find((j: Doc) => j.job_name === 'cxr-worker');
    expect(job.dns_sd_configs[0]).toMatchObject({
      names: ['worker'],
      type: 'A',
      port: Number(services.worker.environment.CXR_HTTP_PORT),
    });
  });

  it('a broken file is rejected (the check can fail)', () => {
    const file = path.join(mkdtempSync(path.join(os.tmpdir(), 'cxr-compose-')), 'bad.yml');
    writeFileSync(file, 'services:\n  w:\n    image: x\n    stop_grace_period: [1]\n');
    const bad = composeConfig(file);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toMatch(/stop_grace_period/);
  });
});
