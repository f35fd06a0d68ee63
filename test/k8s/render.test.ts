import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it, inject } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { loadConfig } from '../../src/shared/config.js';
import { repoRoot } from '../../src/shared/paths.js';
import { SCORE_QUEUE } from '../../src/shared/queue.js';
import { queueListKey } from '../../src/shared/queue-keys.js';
import { defaultS3ModelCache } from '../../src/model/io/s3-io.js';
import { CLI } from '../helpers/cli.js';

/* eslint-disable @typescript-eslint/no-explicit-any */
type Doc = Record<string, any>;

const K8S = path.join(repoRoot(), 'infra', 'k8s');
const KUBECTL = process.env.KUBECTL ?? 'kubectl';

/** `kubectl kustomize` (kustomize built into kubectl; offline). */
function render(dir: string): Doc[] {
  const r = spawnSync(KUBECTL, ['kustomize', dir], { encoding: 'utf8' });
  if (r.error) throw new Error(`cannot run ${KUBECTL} (${(r.error as NodeJS.ErrnoException).code}): these tests render infra/k8s with kubectl kustomize; install kubectl or set KUBECTL`);
  if (r.status !== 0) throw new Error(`kubectl kustomize ${dir} failed:\n${r.stderr}`);
  return parseYaml(r.stdout);
}

function parseYaml(text: string): Doc[] {
  return parseAllDocuments(text).map((d) => {
    if (d.errors.length) throw new Error(d.errors.map((e) => e.message).join('\n'));
    return d.toJS() as Doc;
  }).filter(Boolean);
}

/** The kubernetes-models class of a document (KEDA's from @kubernetes-models/keda); throws for a kind it has no schema for. */
async function modelClass(doc: Doc): Promise<new (d: Doc) => { validate(): void }> {
  const spec = doc.apiVersion.startsWith('keda.sh/') ? `@kubernetes-models/keda/${doc.apiVersion}` : `kubernetes-models/${doc.apiVersion}`;
  const mod = await import(/* @vite-ignore */ spec);
  const cls = mod[doc.kind];
  if (!cls) throw new Error(`no schema for ${doc.apiVersion} ${doc.kind}`);
  return cls;
}

const find = (docs: Doc[], kind: string, name: string) => {
  const d = docs.find((x) => x.kind === kind && x.metadata.name === name);
  if (!d) throw new Error(`no ${kind} ${name} in the rendered overlay`);
  return d;
};
const worker = (docs: Doc[]) => find(docs, 'Deployment', 'cxr-worker').spec.template.spec.containers[0];

describe.each(['cpu', 'gpu'])('infra/k8s/overlays/%s', (overlay) => {
  let docs: Doc[];
  beforeAll(() => {
    docs = render(path.join(K8S, 'overlays', overlay));
  });

  it('renders documents that each validate against their schema', async () => {
    const kinds = docs.map((d) => d.kind).sort();
    expect(kinds).toEqual(expect.arrayContaining(['ConfigMap', 'CronJob', 'Deployment', 'Namespace', 'PodDisruptionBudget', 'ScaledObject', 'Service', 'ServiceAccount', 'TriggerAuthentication']));
    for (const doc of docs) {
      const Model = await modelClass(doc);
      expect(() => new Model(doc).validate(), `${doc.kind} ${doc.metadata.name}`).not.toThrow();
      expect(doc.metadata.namespace ?? 'cxr').toBe('cxr');
    }
    // A document that breaks its schema is caught: the check can fail.
    const so = structuredClone(find(docs, 'ScaledObject', 'cxr-worker'));
    so.spec.minReplicaCount = 'zero';
    const ScaledObject = await modelClass(so);
    expect(() => new ScaledObject(so).validate()).toThrow(/minReplicaCount/);
  });

  it('KEDA counts the wait and active lists BullMQ uses for the score queue, under the ConfigMap prefix', () => {
    const prefix = find(docs, 'ConfigMap', 'cxr-config').data.CXR_QUEUE_PREFIX;
    expect(loadConfig({}).queuePrefix).toBe(prefix); // a worker without CXR_QUEUE_PREFIX uses the same prefix
    const so = find(docs, 'ScaledObject', 'cxr-worker');
    expect(so.spec.scaleTargetRef.name).toBe('cxr-worker');
    expect(so.spec.minReplicaCount).toBe(0);
    expect(so.spec.maxReplicaCount).toBeGreaterThan(0);
    expect(so.spec.cooldownPeriod).toBeGreaterThan(0);
    expect(so.spec.triggers.map((t: Doc) => t.metadata.listName)).toEqual([queueListKey(prefix, SCORE_QUEUE, 'wait'), queueListKey(prefix, SCORE_QUEUE, 'active')]);
    expect(so.spec.triggers.map((t: Doc) => t.metadata.listName)).toEqual(['cxr:score:wait', 'cxr:score:active']);
    // Its address comes from the worker container's environment (the ConfigMap), its password from the Secret.
    const auth = find(docs, 'TriggerAuthentication', so.spec.triggers[0].authenticationRef.name);
    const passwordRef = worker(docs).env.find((e: Doc) => e.name === 'REDIS_PASSWORD').valueFrom.secretKeyRef;
    expect(auth.spec.secretTargetRef).toEqual([{ parameter: 'password', name: passwordRef.name, key: passwordRef.key }]);
    for (const t of so.spec.triggers) expect(find(docs, 'ConfigMap', 'cxr-config').data[t.metadata.addressFromEnv]).toMatch(/^[\w.-]+:\d+$/);
  });

  it('the worker: probes and scrape port on CXR_HTTP_PORT, a grace period longer than its drain timeout, flags the CLI knows', () => {
    const deployment = find(docs, 'Deployment', 'cxr-worker');
    const pod = deployment.spec.template;
    const c = worker(docs);
    const port = Number(find(docs, 'ConfigMap', 'cxr-config').data.CXR_HTTP_PORT);
    expect(c.ports).toEqual([{ name: 'metrics', containerPort: port }]);
    expect(c.readinessProbe.httpGet).toEqual({ path: '/readyz', port: 'metrics' });
    expect(c.livenessProbe.httpGet).toEqual({ path: '/healthz', port: 'metrics' });
    expect(pod.metadata.annotations['prometheus.io/port']).toBe(String(port));
    const service = find(docs, 'Service', 'cxr-worker-metrics');
    expect(service.spec.selector).toEqual(deployment.spec.selector.matchLabels);
    expect(find(docs, 'PodDisruptionBudget', 'cxr-worker').spec.selector.matchLabels).toEqual(deployment.spec.selector.matchLabels);
    const args: string[] = c.args;
    const drain = args.includes('--drain-timeout') ? Number(args[args.indexOf('--drain-timeout') + 1]) : 60;
    expect(pod.spec.terminationGracePeriodSeconds).toBeGreaterThan(drain);
    // Every secret key the pods read is in the Secret template.
    const template = parseYaml(readFileSync(path.join(K8S, 'base', 'secret.template.yaml'), 'utf8'))[0];
    const refs = JSON.stringify(docs).match(/"secretKeyRef":\{[^}]*\}/g) ?? [];
    for (const ref of refs) expect(Object.keys(template.stringData)).toContain(JSON.parse(`{${ref}}`).secretKeyRef.key);
  });

  it('overlay specifics', () => {
    const c = worker(docs);
    const pod = find(docs, 'Deployment', 'cxr-worker').spec.template.spec;
    if (overlay === 'cpu') {
      expect(c.args).toEqual(expect.arrayContaining(['--engine', 'onnx']));
      expect(c.args[c.args.indexOf('--concurrency') + 1]).toBe('$(CPU_CORES)');
      expect(c.env.find((e: Doc) => e.name === 'CPU_CORES').valueFrom.resourceFieldRef.resource).toBe('limits.cpu');
      expect(c.resources.limits['nvidia.com/gpu']).toBeUndefined();
    } else {
      expect(c.resources.limits['nvidia.com/gpu']).toBe(1);
      expect(c.image).toMatch(/cxr-gpu/);
      // One inference thread per pod, its slots decoding on libuv's pool sized to the CPU limit.
      expect(c.args[c.args.indexOf('--inference') + 1]).toBe('shared');
      expect(c.env.find((e: Doc) => e.name === 'UV_THREADPOOL_SIZE').value).toBe(String(c.resources.limits.cpu));
      expect(pod.tolerations).toContainEqual(expect.objectContaining({ key: 'nvidia.com/gpu' }));
      expect(Object.keys(pod.nodeSelector)).toContain('nvidia.com/gpu.present');
      // The cache volume sits where the code keeps downloaded models, inside the image's /app.
      const cacheDir = path.posix.join('/app', path.relative(repoRoot(), path.dirname(defaultS3ModelCache())));
      const mount = c.volumeMounts.find((m: Doc) => m.mountPath === cacheDir);
      expect(mount, `a volume at ${cacheDir}`).toBeDefined();
      const volume = pod.volumes.find((v: Doc) => v.name === mount.name);
      find(docs, 'PersistentVolumeClaim', volume.persistentVolumeClaim.claimName);
    }
  });
});

describe('infra/k8s against the real CLI and BullMQ', () => {
  let redis: Redis;
  beforeAll(() => {
    redis = new Redis(inject('redisUrl'), { maxRetriesPerRequest: null });
  });
  afterAll(() => redis?.disconnect());

  it('the KEDA list names are the lists a queued and a running job are in', async () => {
    const prefix = `k${Date.now().toString(36)}`;
    const queue = new Queue(SCORE_QUEUE, { connection: redis, prefix });
    await queue.add('batch', {});
    await queue.add('batch', {});
    expect(await redis.llen(queueListKey(prefix, SCORE_QUEUE, 'wait'))).toBe(2);
    const { Worker } = await import('bullmq');
    const w = new Worker(SCORE_QUEUE, null, { connection: redis.duplicate(), prefix });
    const job = await w.getNextJob('token');
    expect(job).toBeDefined();
    expect(await redis.llen(queueListKey(prefix, SCORE_QUEUE, 'wait'))).toBe(1);
    expect(await redis.llen(queueListKey(prefix, SCORE_QUEUE, 'active'))).toBe(1);
    await w.close(true);
    await queue.obliterate({ force: true });
    await queue.close();
  });

  it('every flag the manifests pass to cxr is one `cxr <command> --help` lists', () => {
    const flags = new Map<string, Set<string>>();
    for (const overlay of ['cpu', 'gpu']) {
      const docs = render(path.join(K8S, 'overlays', overlay));
      for (const c of [worker(docs), find(docs, 'CronJob', 'cxr-producer').spec.jobTemplate.spec.template.spec.containers[0]]) {
        const set = flags.get(c.args[0]) ?? new Set<string>();
        for (const a of c.args as string[]) if (a.startsWith('--')) set.add(a);
        flags.set(c.args[0], set);
      }
    }
    expect([...flags.keys()].sort()).toEqual(['score', 'worker']);
    for (const [command, set] of flags) {
      const help = execFileSync(process.execPath, [CLI, command, '--help'], { encoding: 'utf8' });
      for (const flag of set) expect(help, `cxr ${command} ${flag}`).toContain(`${flag} `);
    }
  });
});
