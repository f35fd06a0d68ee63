import type { S3Client } from '@aws-sdk/client-s3';
import pLimit from 'p-limit';
import { getJsonIfExists, getTextIfExists, listObjects, getCompleteIfExists } from '../shared/s3/objects.js';
import type { S3Location } from '../shared/s3/uri.js';
import { generationOfKey, partOfKey, runLayout, type PartRef } from '../shared/run/layout.js';
import { mergeOrder, type RunRecord } from '../shared/run/plan.js';
import type { GenerationPlan, PartLine, PartMeta, RunManifest } from '../shared/run/types.js';
import { UserError } from '../shared/errors.js';
import { parsePart } from '../worker/merge-parts.js';

export async function readManifestIfExists(s3: S3Client, out: S3Location, runId: string): Promise<RunManifest | undefined> {
  const layout = runLayout(out, runId);
  const got = await getCompleteIfExists(s3, layout.bucket, layout.manifest); // another producer may be writing it
  return got ? (JSON.parse(Buffer.from(got.bytes).toString('utf8')) as RunManifest) : undefined;
}

export async function readManifest(s3: S3Client, out: S3Location, runId: string): Promise<RunManifest> {
  const manifest = await readManifestIfExists(s3, out, runId);
  if (!manifest) throw new UserError(`run ${runId}: no manifest at s3://${out.bucket}/${runLayout(out, runId).manifest}`);
  return manifest;
}

/** The run as S3 records it: manifest, generation plans, and which part files exist (not their contents). */
export async function loadRunRecord(s3: S3Client, manifest: RunManifest): Promise<RunRecord> {
  const layout = runLayout(manifest.out, manifest.runId);
  const [planKeys, partKeys] = await Promise.all([
    listObjects(s3, layout.bucket, layout.generationsPrefix, (k) => generationOfKey(k) !== undefined),
    listObjects(s3, layout.bucket, layout.partsPrefix, (k) => partOfKey(k) !== undefined),
  ]);
  const plans = await Promise.all(planKeys.map(async (o) => (await getJsonIfExists<GenerationPlan>(s3, layout.bucket, o.key))!));
  return { manifest, plans: plans.sort((a, b) => a.generation - b.generation), parts: partKeys.map((o) => partOfKey(o.key)!) };
}

export interface LoadedPart extends PartRef {
  lines: PartLine[];
  meta?: PartMeta;
}

/** The parts' lines (and metas when asked), in merge order: by generation, then batch. */
export async function readParts(s3: S3Client, manifest: RunManifest, parts: readonly PartRef[], withMeta = false): Promise<LoadedPart[]> {
  const layout = runLayout(manifest.out, manifest.runId);
  const limit = pLimit(16);
  return Promise.all(
    mergeOrder(parts).map((p) =>
      limit(async () => {
        const key = layout.part(p.batch, p.generation);
        const [text, meta] = await Promise.all([
          getTextIfExists(s3, layout.bucket, key),
          withMeta ? getJsonIfExists<PartMeta>(s3, layout.bucket, layout.partMeta(p.batch, p.generation)) : undefined,
        ]);
        return { ...p, lines: text ? parsePart(text, key) : [], meta };
      }),
    ),
  );
}

/** Keys with a prediction in any part. Pure. */
export function predictedKeys(parts: readonly { lines: readonly PartLine[] }[]): Set<string> {
  const keys = new Set<string>();
  for (const p of parts) for (const l of p.lines) if (l.type === 'prediction') keys.add(l.key);
  return keys;
}
