import { createHash } from 'node:crypto';

/**
 * A compact set of image content hashes: the images a model was trained and selected on, so that a run can
 * flag an image the model has already seen (`in-training-set`): a data-leak guard for evaluations.
 *
 * Key: the first 8 bytes of the sha256 of the image file's bytes, read as an unsigned big-endian 64-bit
 * integer. Exact copies match; a re-encoded, resized or cropped copy does not (this is not a near-duplicate
 * search). An image that is not in the set is flagged by chance when its key equals one of the N keys:
 * with sha256 uniform, probability N / 2^64 per image (5,216 images: 2.8e-16).
 *
 * File (`data-hashes.bin` in the model folder): one line of JSON (the header, UTF-8, ending in '\n'), then
 * `count` keys of 8 bytes each, big-endian, sorted ascending, no duplicates. Looked up by binary search.
 * Everything here is pure: hashing and encoding bytes, no I/O.
 */

export const HASH_SET_FORMAT = 'cxr-hash-set/1';
export const HASH_SET_FILE = 'data-hashes.bin';
export const KEY_BYTES = 8;

export interface HashSetHeader {
  format: typeof HASH_SET_FORMAT;
  /** How a key is made, for people: "sha256(file bytes)[0:8], unsigned big-endian". */
  key: string;
  count: number;
  /** The chance that an image not in the set is flagged: count / 2^64. */
  falsePositiveRate: number;
  /** What the images were, e.g. ["train", "validation"] of chest-xray-pneumonia. */
  sets: string[];
  /** Free text: the data the set was built from. */
  data?: string;
  createdAt: string;
}

/** The set's key of an image: the first 8 bytes of its sha256. */
export function imageKey(bytes: Uint8Array): bigint {
  const digest = createHash('sha256').update(bytes).digest();
  return digest.readBigUInt64BE(0);
}

/** The chance that an image outside a set of `count` keys matches one of them. */
export function falsePositiveRate(count: number): number {
  return count / 2 ** (8 * KEY_BYTES);
}

/** The file's bytes: header line, then the keys sorted and deduplicated. */
export function encodeHashSet(
  keys: Iterable<bigint>,
  info: Pick<HashSetHeader, 'sets' | 'data'>,
  now = new Date(),
): Uint8Array {
  const sorted = [...new Set(keys)].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const header: HashSetHeader = {
    format: HASH_SET_FORMAT,
    key: 'sha256(file bytes)[0:8], unsigned big-endian',
    count: sorted.length,
    falsePositiveRate: falsePositiveRate(sorted.length),
    sets: info.sets,
    ...(info.data ? { data: info.data } : {}),
    createdAt: now.toISOString(),
  };
  const head = Buffer.from(`${JSON.stringify(header)}\n`, 'utf8');
  const out = Buffer.alloc(head.length + sorted.length * KEY_BYTES);
  head.copy(out, 0);
  sorted.forEach((k, i) => out.writeBigUInt64BE(k, head.length + i * KEY_BYTES));
  return new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
}

export class HashSet {
  private readonly view: DataView;

  constructor(
    readonly header: HashSetHeader,
    keys: Uint8Array,
  ) {
    this.view = new DataView(keys.buffer, keys.byteOffset, keys.byteLength);
  }

  get count(): number {
    return this.header.count;
  }

  /** Binary search over the sorted keys. */
  has(key: bigint): boolean {
    let lo = 0;
    let hi = this.header.count - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      const k = this.view.getBigUint64(mid * KEY_BYTES, false);
      if (k === key) return true;
      if (k < key) lo = mid + 1;
      else hi = mid - 1;
    }
    return false;
  }

  /** Whether the image with these bytes is in the set. */
  hasImage(bytes: Uint8Array): boolean {
    return this.has(imageKey(bytes));
  }
}

/** Reads a hash-set file; throws naming what is wrong (format, length, order). */
export function decodeHashSet(bytes: Uint8Array, where = HASH_SET_FILE): HashSet {
  const nl = bytes.indexOf(0x0a);
  if (nl < 0 || nl > 65_536) throw new Error(`${where}: no header line (expected one line of JSON, then the keys)`);
  let header: HashSetHeader;
  try {
    header = JSON.parse(Buffer.from(bytes.subarray(0, nl)).toString('utf8')) as HashSetHeader;
  } catch {
    throw new Error(`${where}: the header line is not JSON`);
  }
  if (header.format !== HASH_SET_FORMAT)
    throw new Error(`${where}: format ${JSON.stringify(header.format)}, expected ${HASH_SET_FORMAT}`);
  const keys = bytes.subarray(nl + 1);
  if (!Number.isInteger(header.count) || keys.byteLength !== header.count * KEY_BYTES) {
    throw new Error(
      `${where}: ${keys.byteLength} bytes of keys, the header says ${header.count} keys of ${KEY_BYTES} bytes`,
    );
  }
  const view = new DataView(keys.buffer, keys.byteOffset, keys.byteLength);
  for (let i = 1; i < header.count; i++) {
    if (view.getBigUint64((i - 1) * KEY_BYTES, false) >= view.getBigUint64(i * KEY_BYTES, false))
      throw new Error(`${where}: keys not in ascending order at ${i}`);
  }
  return new HashSet(header, keys);
}
