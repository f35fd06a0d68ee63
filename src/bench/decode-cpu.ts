import type { S3Client } from '@aws-sdk/client-s3';
import { decodeInput } from '../shared/image/decode-input.js';
import { listImages } from '../shared/s3/list-images.js';
import { getBytesIfExists } from '../shared/s3/objects.js';

/**
 * CPU milliseconds (all of this process's threads: sharp decodes on libuv's pool) to decode one image
 * under `prefix` to the model input by the worker's own path, the images decoded in turn for `seconds`.
 * Run while nothing else works in this process.
 */
export async function decodeCpuMsPerImage(s3: S3Client, bucket: string, prefix: string, seconds = 3): Promise<number> {
  const keys = (await listImages(s3, { bucket, prefix })).slice(0, 8).map((o) => o.key);
  const images = (await Promise.all(keys.map((k) => getBytesIfExists(s3, bucket, k)))).filter(
    (b): b is Uint8Array => b !== undefined,
  );
  if (!images.length) throw new Error(`no images under s3://${bucket}/${prefix} to time decoding on`);
  await decodeInput(images[0]); // warm-up
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  let n = 0;
  while (performance.now() - t0 < seconds * 1000 || n < images.length) await decodeInput(images[n++ % images.length]);
  const cpu = process.cpuUsage(cpu0);
  return (cpu.user + cpu.system) / 1000 / n;
}
