import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it, inject } from 'vitest';
import { loadConfig } from '../../../src/shared/config.js';
import { repoRoot } from '../../../src/shared/paths.js';
import { SCORE_QUEUE } from '../../../src/shared/queue.js';
import { TRAIN_QUEUE } from '../../../src/train-queue/jobs.js';
import { queueListKey, RUNNABLE_KEYS } from '../../../src/shared/queue-keys.js';
import { defaultS3ModelCache } from '../../../src/model/io/s3-io.js';
import { defaultOnnxCache } from '../../../src/model/onnx/onnx-file.js';
import { CLI } from '../../helpers/cli.js';
import {
  containersOf,
  find,
  hardeningProblems,
  K8S,
  namespaceProblems,
  parseYaml,
  podTemplate,
  renderOverlay,
  type Doc,
} from './manifests.js';

/** The kubernetes-models class of a document (KEDA's from @kubernetes-models/keda); throws for a kind it has no schema for. */
async function modelClass(doc: Doc): Promise<new (d: Doc) => { validate(): void }> {
  const spec = doc.apiVersion.startsWith('keda.sh/')
    ? `@kubernetes-models/keda/${doc.apiVersion}`
    : `kubernetes-models/${doc.apiVersion}`;
  const mod = await import(/* @vite-ignore */ spec);
  const cls = mod[doc.kind];
  if (!cls) throw new Error(`no schema for ${doc.apiVersion} ${doc.kind}`);
  return cls;
}

const worker = (docs: Doc[]) => find(docs, 'Deployment', 'cxr-worker').spec.template.spec.containers[0];
const workloads = (docs: Doc[]) => docs.filter((d) => podTemplate(d));
/** The value of `--flag` in a container's args. */
const flag = (c: Doc, name: string): string | undefined =>
  c.args.includes(name) ? c.args[c.args.indexOf(name) + 1] : undefined;
/** Job slots of a pod: --concurrency, where it is $(CPU_CORES) the CPU limit. */
const slots = (c: Doc): number => {
  const v = flag(c, '--concurrency');
  return v === '$(CPU_CORES)' ? Number(c.resources.limits.cpu) : Number(v);
};
const pathInImage = (dir: string) => path.posix.join('/app', path.relative(repoRoot(), dir));

describe.each(['cpu', 'gpu'])('infra/k8s/overlays/%s', (overlay) => {
  let docs: Doc[];
  beforeAll(() => {
    docs = renderOverlay(overlay);
  });

  it('renders documents that each validate against their schema, every namespaced one in cxr', async () => {
    const kinds = docs.map((d) => d.kind).sort();
    expect(kinds).toEqual(
      expect.arrayContaining([
        'ConfigMap',
        'CronJob',
        'Deployment',
        'Job',
        'Namespace',
        'NetworkPolicy',
        'PodDisruptionBudget',
        'ScaledObject',
        'Service',
        'ServiceAccount',
        'TriggerAuthentication',
      ]),
    );
    for (const doc of docs) {
      const Model = await modelClass(doc);
      expect(() => new Model(doc).validate(), `${doc.kind} ${doc.metadata.name}`).not.toThrow();
    }
    expect(namespaceProblems(docs, 'cxr')).toEqual([]);
    // A document that breaks its schema, or renders without a namespace, is caught: the checks can fail.
    const so = structuredClone(find(docs, 'ScaledObject', 'cxr-worker'));
    so.spec.minReplicaCount = 'zero';
    const ScaledObject = await modelClass(so);
    expect(() => new ScaledObject(so).validate()).toThrow(/minReplicaCount/);
    const stray = structuredClone(docs.filter((d) => d.kind !== 'Namespace'));
    delete stray[0].metadata.namespace;
    expect(namespaceProblems(stray, 'cxr')).toEqual([`${stray[0].kind} ${stray[0].metadata.name}: namespace (none)`]);
  });

  it('every container runs hardened: fixed non-root uid, read-only root filesystem, no capabilities, RuntimeDefault seccomp', () => {
    expect(workloads(docs).length).toBeGreaterThanOrEqual(4);
    expect(workloads(docs).flatMap(hardeningProblems)).toEqual([]);
    // Each writes only where it mounts a volume: /tmp at least.
    for (const w of workloads(docs))
      for (const c of containersOf(w))
        expect(
          c.volumeMounts.map((m: Doc) => m.mountPath),
          `${w.metadata.name}`,
        ).toContain('/tmp');
    // The check can fail: a container that loses any one setting is reported.
    const d = structuredClone(find(docs, 'Deployment', 'cxr-worker'));
    const sc = d.spec.template.spec.containers[0].securityContext;
    delete sc.readOnlyRootFilesystem;
    sc.capabilities = { drop: ['NET_RAW'] };
    d.spec.template.spec.securityContext.runAsNonRoot = false;
    delete sc.runAsNonRoot;
    expect(hardeningProblems(d)).toEqual([
      'Deployment cxr-worker container worker: runAsNonRoot is not true',
      'Deployment cxr-worker container worker: readOnlyRootFilesystem is not true',
      'Deployment cxr-worker container worker: capabilities do not drop ALL',
    ]);
    d.spec.template.spec.initContainers = [{ name: 'init', image: 'x' }];
    expect(hardeningProblems(d).filter((p) => p.includes('container init')).length).toBe(4); // uid and seccomp come from the pod
  });

  it('images by digest; only the GPU workloads run the GPU image', () => {
    for (const w of workloads(docs)) {
      for (const c of containersOf(w)) {
        expect(c.image, `${w.metadata.name}`).toMatch(/^[\w.-]+(:\d+)?\/[\w./-]+@sha256:[0-9a-f]{64}$/);
        const gpu = (c.resources?.limits ?? {})['nvidia.com/gpu'] !== undefined;
        expect(/cxr-gpu/.test(c.image), `${w.metadata.name}: ${c.image}`).toBe(gpu);
      }
    }
  });

  it('network policies: everything denied unless allowed; egress to DNS, Redis and S3 only; ingress from the cluster only', () => {
    const policies = docs.filter((d) => d.kind === 'NetworkPolicy');
    const deny = policies.find(
      (p) => Object.keys(p.spec.podSelector).length === 0 && !p.spec.ingress && !p.spec.egress,
    );
    expect(deny?.spec.policyTypes.sort()).toEqual(['Egress', 'Ingress']);
    const egressPorts = policies
      .flatMap((p) => p.spec.egress ?? [])
      .flatMap((r: Doc) => r.ports.map((x: Doc) => `${x.protocol}/${x.port}`));
    expect([...new Set(egressPorts)].sort()).toEqual(['TCP/443', 'TCP/53', 'TCP/6379', 'UDP/53']);
    const ingress = policies.flatMap((p) => p.spec.ingress ?? []);
    expect(ingress.length).toBeGreaterThan(0);
    for (const rule of ingress) {
      expect(rule.from.length).toBeGreaterThan(0); // an empty `from` admits every source
      for (const peer of rule.from) expect(peer.ipBlock, 'ingress from outside the cluster').toBeUndefined();
    }
    const port = Number(find(docs, 'ConfigMap', 'cxr-config').data.CXR_HTTP_PORT);
    expect(ingress.flatMap((r: Doc) => r.ports.map((x: Doc) => x.port))).toContain(port);
  });

  it('KEDA counts every key BullMQ keeps runnable work in, for each pool, under the ConfigMap prefix', () => {
    const prefix = find(docs, 'ConfigMap', 'cxr-config').data.CXR_QUEUE_PREFIX;
    expect(loadConfig({}).queuePrefix).toBe(prefix); // a worker without CXR_QUEUE_PREFIX uses the same prefix
    const pools: [string, string][] = [
      ['cxr-worker', SCORE_QUEUE],
      ...(overlay === 'gpu' ? [['cxr-trainer', TRAIN_QUEUE] as [string, string]] : []),
    ];
    expect(
      docs
        .filter((d) => d.kind === 'ScaledObject')
        .map((d) => d.metadata.name)
        .sort(),
    ).toEqual(pools.map(([n]) => n).sort());
    for (const [name, queue] of pools) {
      const so = find(docs, 'ScaledObject', name);
      expect(so.spec.scaleTargetRef.name).toBe(name);
      expect(so.spec.minReplicaCount).toBe(0);
      expect(so.spec.maxReplicaCount).toBeGreaterThan(0);
      expect(so.spec.cooldownPeriod).toBeGreaterThan(0);
      const byName = new Map(so.spec.triggers.map((t: Doc) => [t.name, t]));
      expect([...byName.keys()].sort()).toEqual([...RUNNABLE_KEYS].sort());
      for (const k of RUNNABLE_KEYS) {
        const t = byName.get(k) as Doc;
        expect(t.type).toBe('redis');
        expect(t.metadata.listName).toBe(queueListKey(prefix, queue, k));
        expect(Number(t.metadata.activationListLength ?? 0)).toBe(0); // one job of any kind wakes the pool
      }
      // A run's tail asks for no new pods: running jobs ask for at most the pods running them; the wake-up
      // triggers (finalize, merge, retries) for one pod; a backlog asks for at least a pod's worth of slots.
      const c = find(docs, 'Deployment', name).spec.template.spec.containers[0];
      const length = (k: string) => Number((byName.get(k) as Doc).metadata.listLength);
      expect(length('active')).toBe(slots(c));
      expect(length('wait')).toBeGreaterThanOrEqual(slots(c));
      expect(length('prioritized')).toBeGreaterThanOrEqual(1000);
      expect(length('delayed')).toBeGreaterThanOrEqual(1000);
      // Its address comes from the container's environment (the ConfigMap), its password from the Secret.
      for (const t of so.spec.triggers) {
        const auth = find(docs, 'TriggerAuthentication', t.authenticationRef.name);
        const passwordRef = c.env.find((e: Doc) => e.name === 'REDIS_PASSWORD').valueFrom.secretKeyRef;
        expect(auth.spec.secretTargetRef).toEqual([
          { parameter: 'password', name: passwordRef.name, key: passwordRef.key },
        ]);
        expect(find(docs, 'ConfigMap', 'cxr-config').data[t.metadata.addressFromEnv]).toMatch(/^[\w.-]+:\d+$/);
      }
    }
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
    expect(find(docs, 'PodDisruptionBudget', 'cxr-worker').spec.selector.matchLabels).toEqual(
      deployment.spec.selector.matchLabels,
    );
    for (const w of workloads(docs).filter((d) => d.kind === 'Deployment')) {
      const a = w.spec.template.spec.containers[0];
      expect(w.spec.template.spec.terminationGracePeriodSeconds, w.metadata.name).toBeGreaterThan(
        Number(flag(a, '--drain-timeout') ?? 60),
      );
    }
    // Every secret key the pods read is in the Secret template.
    const template = parseYaml(readFileSync(path.join(K8S, 'base', 'secret.template.yaml'), 'utf8'))[0];
    const refs = JSON.stringify(docs).match(/"secretKeyRef":\{[^}]*\}/g) ?? [];
    for (const ref of refs) expect(Object.keys(template.stringData)).toContain(JSON.parse(`{${ref}}`).secretKeyRef.key);
  });

  it('every role: score workers, the evaluation worker and its nightly schedule, the producer job template with resources', () => {
    const evalWorker = find(docs, 'Deployment', 'cxr-eval').spec.template.spec.containers[0];
    expect(evalWorker.args.slice(0, 3)).toEqual(['worker', '--queues', 'eval']);
    const schedule = find(docs, 'Job', 'cxr-eval-schedule').spec.template.spec.containers[0];
    expect(schedule.args.slice(0, 2)).toEqual(['schedule', 'eval']);
    const config = find(docs, 'ConfigMap', 'cxr-config').data;
    for (const ref of schedule.args.join(' ').match(/\$\((\w+)\)/g)!)
      expect(config[ref.slice(2, -1)], ref).toBeDefined();
    const producer = find(docs, 'CronJob', 'cxr-producer');
    expect(producer.spec.suspend).toBe(true);
    // Every container asks for CPU, memory and ephemeral storage, and is limited in memory and storage.
    for (const w of workloads(docs)) {
      for (const c of containersOf(w)) {
        expect(Object.keys(c.resources.requests).sort(), w.metadata.name).toEqual([
          'cpu',
          'ephemeral-storage',
          'memory',
        ]);
        expect(c.resources.limits, w.metadata.name).toMatchObject({
          memory: expect.anything(),
          'ephemeral-storage': expect.anything(),
        });
      }
    }
  });

  it('overlay specifics', () => {
    const c = worker(docs);
    const pod = find(docs, 'Deployment', 'cxr-worker').spec.template.spec;
    const volumeAt = (spec: Doc, container: Doc, dir: string) => {
      const mount = container.volumeMounts.find((m: Doc) => m.mountPath === pathInImage(dir));
      expect(mount, `a volume at ${pathInImage(dir)}`).toBeDefined();
      return spec.volumes.find((v: Doc) => v.name === mount.name);
    };
    if (overlay === 'cpu') {
      expect(c.args).toEqual(expect.arrayContaining(['--engine', 'onnx']));
      expect(c.args[c.args.indexOf('--concurrency') + 1]).toBe('$(CPU_CORES)');
      expect(c.env.find((e: Doc) => e.name === 'CPU_CORES').valueFrom.resourceFieldRef.resource).toBe('limits.cpu');
      expect(c.resources.limits['nvidia.com/gpu']).toBeUndefined();
      expect(docs.find((d) => d.metadata.name === 'cxr-trainer')).toBeUndefined();
      // The caches the code writes are emptyDirs: the root filesystem is read-only.
      for (const dir of [path.dirname(defaultS3ModelCache()) + '/s3-models', defaultOnnxCache()])
        expect(volumeAt(pod, c, dir).emptyDir).toBeDefined();
    } else {
      expect(c.resources.limits['nvidia.com/gpu']).toBe(1);
      expect(c.image).toMatch(/cxr-gpu/);
      // ONNX Runtime (its CUDA provider in the GPU image), one inference thread per pod, its slots decoding
      // on libuv's pool sized to the CPU limit.
      expect(flag(c, '--engine')).toBe('onnx');
      expect(flag(c, '--inference')).toBe('shared');
      expect(c.env.find((e: Doc) => e.name === 'UV_THREADPOOL_SIZE').value).toBe(String(c.resources.limits.cpu));
      for (const spec of [pod, find(docs, 'Deployment', 'cxr-trainer').spec.template.spec]) {
        expect(spec.tolerations).toContainEqual(expect.objectContaining({ key: 'nvidia.com/gpu' }));
        expect(Object.keys(spec.nodeSelector)).toContain('nvidia.com/gpu.present');
      }
      // Both caches the code writes sit on the shared claim, in the namespace, with its access mode stated;
      // the backbone baked into the image (models/.cache/resnet50-imagenet) is not hidden by it.
      for (const dir of [defaultS3ModelCache(), defaultOnnxCache()]) {
        const pvc = find(docs, 'PersistentVolumeClaim', volumeAt(pod, c, dir).persistentVolumeClaim.claimName);
        expect(pvc.spec.accessModes).toEqual(['ReadWriteMany']);
      }
      expect(c.volumeMounts.map((m: Doc) => m.mountPath)).not.toContain(
        pathInImage(path.dirname(defaultS3ModelCache())),
      );
      // The trainer: train queue only, one GPU, one shard job at a time.
      const trainer = find(docs, 'Deployment', 'cxr-trainer').spec.template.spec.containers[0];
      expect(trainer.args.slice(0, 3)).toEqual(['worker', '--queues', 'train']);
      expect(trainer.resources.limits['nvidia.com/gpu']).toBe(1);
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
      const docs = renderOverlay(overlay);
      for (const c of workloads(docs).flatMap(containersOf)) {
        const args: string[] = c.args;
        const command = args
          .slice(
            0,
            args.findIndex((a) => a.startsWith('--')),
          )
          .filter((a) => !a.startsWith('$('))
          .join(' ');
        const set = flags.get(command) ?? new Set<string>();
        for (const a of args) if (a.startsWith('--')) set.add(a);
        flags.set(command, set);
      }
    }
    expect([...flags.keys()].sort()).toEqual(['schedule eval', 'score', 'worker']);
    for (const [command, set] of flags) {
      const help = execFileSync(process.execPath, [CLI, ...command.split(' '), '--help'], { encoding: 'utf8' });
      for (const flag of set) expect(help, `cxr ${command} ${flag}`).toContain(`${flag} `);
    }
  });
});
