import type { S3Client } from '@aws-sdk/client-s3';
import { putObject } from '../../shared/s3/objects.js';
import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { parseS3Folder } from '../../shared/s3/uri.js';
import { onnx, type OnnxTypes } from './proto.js';

/** Protobuf bytes of a model (onnx-proto's encoder). */
export function encodeModel(model: OnnxTypes.IModelProto): Uint8Array {
  return onnx.ModelProto.encode(model).finish();
}

/** metadata_props of an encoded model as a plain record. */
export function readMetadataProps(bytes: Uint8Array): Record<string, string> {
  const m = onnx.ModelProto.decode(bytes);
  return Object.fromEntries(m.metadataProps.map((p) => [p.key ?? '', p.value ?? '']));
}

/** The same encoded model with these metadata_props set (others kept), e.g. a new model id and threshold. */
export function withMetadataProps(bytes: Uint8Array, props: Record<string, string>): Uint8Array {
  const m = onnx.ModelProto.decode(bytes);
  const merged = { ...Object.fromEntries(m.metadataProps.map((p) => [p.key ?? '', p.value ?? ''])), ...props };
  m.metadataProps = Object.entries(merged).map(([key, value]) => onnx.StringStringEntryProto.create({ key, value }));
  return encodeModel(m);
}

/** Writes to a local path atomically (temp name, then rename). */
export async function writeFileAtomic(path: string, bytes: Uint8Array): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const tmp = `${path}.tmp-${process.pid}-${Date.now()}`;
  try {
    await writeFile(tmp, bytes);
    await rename(tmp, path);
  } finally {
    await rm(tmp, { force: true });
  }
}

/** Writes the bytes to a local file or to s3://bucket/key (a URI ending in "/" gets model.onnx appended). */
export async function writeOnnx(dest: string, bytes: Uint8Array, s3?: S3Client): Promise<string> {
  if (!dest.startsWith('s3://')) {
    await writeFileAtomic(dest, bytes);
    return dest;
  }
  if (!s3) throw new Error(`writing ${dest} needs an S3 client`);
  const m = /^s3:\/\/[^/]+\/(.*)$/.exec(dest);
  const isPrefix = !m || m[1] === '' || dest.endsWith('/');
  const { bucket, prefix } = parseS3Folder(isPrefix ? dest : dest.slice(0, dest.lastIndexOf('/') + 1));
  const key = isPrefix ? `${prefix}model.onnx` : `${prefix}${dest.slice(dest.lastIndexOf('/') + 1)}`;
  await putObject(s3, bucket, key, bytes, 'application/octet-stream');
  return `s3://${bucket}/${key}`;
}
