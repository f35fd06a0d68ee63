import { spawnSync } from 'node:child_process';
import path from 'node:path';
import type { Redis } from 'ioredis';
import { parseAllDocuments } from 'yaml';
import { repoRoot } from '../../../src/shared/paths.js';

/* eslint-disable @typescript-eslint/no-explicit-any */
export type Doc = Record<string, any>;

export const K8S = path.join(repoRoot(), 'infra', 'k8s');
const KUBECTL = process.env.KUBECTL ?? 'kubectl';

/** `kubectl kustomize` (kustomize built into kubectl; offline). */
export function render(dir: string): Doc[] {
  const r = spawnSync(KUBECTL, ['kustomize', dir], { encoding: 'utf8' });
  if (r.error)
    throw new Error(
      `cannot run ${KUBECTL} (${(r.error as NodeJS.ErrnoException).code}): these tests render infra/k8s with kubectl kustomize; install kubectl or set KUBECTL`,
    );
  if (r.status !== 0) throw new Error(`kubectl kustomize ${dir} failed:\n${r.stderr}`);
  return parseYaml(r.stdout);
}

export const renderOverlay = (overlay: string): Doc[] => render(path.join(K8S, 'overlays', overlay));

export function parseYaml(text: string): Doc[] {
  return parseAllDocuments(text)
    .map((d) => {
      if (d.errors.length) throw new Error(d.errors.map((e) => e.message).join('\n'));
      return d.toJS() as Doc;
    })
    .filter(Boolean);
}

export const find = (docs: Doc[], kind: string, name: string): Doc => {
  const d = docs.find((x) => x.kind === kind && x.metadata.name === name);
  if (!d) throw new Error(`no ${kind} ${name} in the rendered overlay`);
  return d;
};

/** The pod template of a workload (Deployment, Job, CronJob, ...); undefined for other kinds. */
export function podTemplate(doc: Doc): Doc | undefined {
  if (doc.kind === 'CronJob') return doc.spec.jobTemplate.spec.template;
  if (['Deployment', 'StatefulSet', 'DaemonSet', 'ReplicaSet', 'Job'].includes(doc.kind)) return doc.spec.template;
  return undefined;
}

export const containersOf = (doc: Doc): Doc[] => {
  const spec = podTemplate(doc)?.spec;
  return spec ? [...(spec.initContainers ?? []), ...spec.containers] : [];
};

/** Kinds of the manifests that are not namespaced. */
const CLUSTER_SCOPED = new Set([
  'Namespace',
  'ClusterRole',
  'ClusterRoleBinding',
  'PersistentVolume',
  'StorageClass',
  'CustomResourceDefinition',
  'PriorityClass',
]);

/** Objects that would land in kubectl's current namespace instead of `namespace`. Pure. */
export function namespaceProblems(docs: Doc[], namespace: string): string[] {
  return docs
    .filter((d) => !CLUSTER_SCOPED.has(d.kind) && d.metadata.namespace !== namespace)
    .map((d) => `${d.kind} ${d.metadata.name}: namespace ${d.metadata.namespace ?? '(none)'}`);
}

/**
 * What keeps a workload's containers from running hardened: each needs a fixed non-root uid, no privilege
 * escalation, a read-only root filesystem, every capability dropped and the RuntimeDefault (or a
 * Localhost) seccomp profile, set on the container or, where Kubernetes allows it, on the pod. Pure.
 */
export function hardeningProblems(doc: Doc): string[] {
  const pod = podTemplate(doc)?.spec;
  if (!pod) return [];
  const out: string[] = [];
  const podSc = pod.securityContext ?? {};
  for (const c of containersOf(doc)) {
    const sc = c.securityContext ?? {};
    const at = `${doc.kind} ${doc.metadata.name} container ${c.name}`;
    const runAsUser = sc.runAsUser ?? podSc.runAsUser;
    if ((sc.runAsNonRoot ?? podSc.runAsNonRoot) !== true) out.push(`${at}: runAsNonRoot is not true`);
    if (!Number.isInteger(runAsUser) || runAsUser === 0) out.push(`${at}: no fixed non-root runAsUser`);
    if (sc.readOnlyRootFilesystem !== true) out.push(`${at}: readOnlyRootFilesystem is not true`);
    if (sc.allowPrivilegeEscalation !== false) out.push(`${at}: allowPrivilegeEscalation is not false`);
    if (!(sc.capabilities?.drop ?? []).includes('ALL')) out.push(`${at}: capabilities do not drop ALL`);
    if ((sc.capabilities?.add ?? []).length) out.push(`${at}: adds capabilities ${sc.capabilities.add.join(', ')}`);
    const seccomp = (sc.seccompProfile ?? podSc.seccompProfile)?.type;
    if (seccomp !== 'RuntimeDefault' && seccomp !== 'Localhost')
      out.push(`${at}: seccomp profile ${seccomp ?? '(none)'}`);
  }
  return out;
}

/**
 * The value KEDA's redis scaler reports for a trigger's listName: it reads the key's TYPE and counts a
 * sorted set with ZCARD, a set with SCARD, a hash with HLEN, a list (or a missing key) with LLEN, and
 * fails for other types; it runs this as one server-side Lua script (kedacore/keda,
 * pkg/scalers/redis_scaler.go, NewRedisScaler, since KEDA 2.0). The same commands here, the same way.
 */
const KEDA_LENGTH = `
local kind = redis.call('TYPE', KEYS[1]).ok
if kind == 'zset' then return redis.call('ZCARD', KEYS[1]) end
if kind == 'set' then return redis.call('SCARD', KEYS[1]) end
if kind == 'hash' then return redis.call('HLEN', KEYS[1]) end
if kind == 'list' or kind == 'none' then return redis.call('LLEN', KEYS[1]) end
return redis.error_reply('ERR unsupported key type: ' .. kind)
`;

export async function kedaListLength(redis: Redis, key: string): Promise<number> {
  return Number(await redis.eval(KEDA_LENGTH, 1, key));
}

/** Each redis trigger of a ScaledObject with KEDA's value for it, its key re-rooted from the manifests' prefix to `prefix`. */
export async function kedaMetrics(
  redis: Redis,
  scaledObject: Doc,
  fromPrefix: string,
  prefix: string,
): Promise<{ name: string; key: string; value: number; active: boolean }[]> {
  return Promise.all(
    scaledObject.spec.triggers.map(async (t: Doc) => {
      const listName: string = t.metadata.listName;
      if (!listName.startsWith(`${fromPrefix}:`))
        throw new Error(`trigger ${t.name} counts ${listName}, not a key under ${fromPrefix}:`);
      const key = `${prefix}:${listName.slice(fromPrefix.length + 1)}`;
      const value = await kedaListLength(redis, key);
      return { name: t.name, key, value, active: value > Number(t.metadata.activationListLength ?? 0) };
    }),
  );
}
