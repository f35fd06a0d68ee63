import { createHash } from 'node:crypto';
import type { TallyState, LabelledScores } from './tally.js';

/**
 * A manifest shard's merge checkpoint index (merged/NNNNNN.json), written after its objects: the shard's
 * share of the tally and the fingerprint of the part objects merged into it. A later finalize whose
 * listing gives the same fingerprint uses the checkpoint instead of reading the shard's parts again.
 */
export interface ShardCheckpoint {
  shard: number;
  fingerprint: string;
  tally: TallyState;
  /** ETags of its objects as written: a reader that gets another ETag (a racing finalize rewrote it) merges from the parts. */
  etags: Record<CheckpointObject, string>;
}

export const CHECKPOINT_OBJECTS = ['predictions', 'csv', 'failures', 'scores'] as const;
export type CheckpointObject = (typeof CHECKPOINT_OBJECTS)[number];

/**
 * Fingerprints of the part and meta objects (key and ETag) each manifest shard merges, from a listing in
 * any order: per shard, the XOR of each object's SHA-256 and the count. The same objects give the same
 * fingerprint; a new, lost or rewritten object changes it. Pure.
 */
export class ShardFingerprints {
  private readonly acc = new Map<number, { xor: Buffer; n: number }>();

  add(shard: number, key: string, etag: string): void {
    let a = this.acc.get(shard);
    if (!a) this.acc.set(shard, (a = { xor: Buffer.alloc(32), n: 0 }));
    const h = createHash('sha256').update(`${key}\n${etag}`).digest();
    for (let i = 0; i < 32; i++) a.xor[i] ^= h[i];
    a.n++;
  }

  get(shard: number): string {
    const a = this.acc.get(shard);
    return a ? `${a.n}-${a.xor.toString('hex')}` : '0';
  }
}

/** What a finalize or a resume read from S3 (objects and bytes), by kind: parts and metas, or checkpoint objects. */
export class ReadCounter {
  readonly parts = { objects: 0, bytes: 0 };
  readonly checkpoints = { objects: 0, bytes: 0 };
  count(kind: 'parts' | 'checkpoints', bytes: number): void {
    this[kind].objects++;
    this[kind].bytes += bytes;
  }
}

/** The checkpoint when it exists and was merged from exactly the objects the fingerprint names. Pure. */
export function matchingCheckpoint(cp: ShardCheckpoint | undefined, fingerprint: string): ShardCheckpoint | undefined {
  return cp && cp.fingerprint === fingerprint ? cp : undefined;
}

/** Labelled scores as stored beside a checkpoint: n Float32 (little-endian) scores, then n label bytes (1: positive). Pure. */
export function encodeScores(s: LabelledScores): Uint8Array {
  const n = s.scores.length;
  const out = new Uint8Array(5 * n);
  const view = new DataView(out.buffer);
  for (let i = 0; i < n; i++) view.setFloat32(4 * i, s.scores[i], true);
  out.set(s.positive, 4 * n);
  return out;
}

export function decodeScores(bytes: Uint8Array, n: number, name: string): LabelledScores {
  if (bytes.byteLength !== 5 * n)
    throw new Error(`${name}: ${bytes.byteLength} bytes, expected ${5 * n} for ${n} labelled scores`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const scores = new Float32Array(n);
  for (let i = 0; i < n; i++) scores[i] = view.getFloat32(4 * i, true);
  return { scores, positive: bytes.slice(4 * n) };
}
