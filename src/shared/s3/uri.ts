export interface S3Location {
  bucket: string;
  /** Key prefix without a leading slash; '' for the whole bucket. */
  prefix: string;
}

/** Parses s3://bucket/prefix; throws with the offending text. */
export function parseS3Uri(uri: string): S3Location {
  const m = /^s3:\/\/([a-z0-9][a-z0-9.-]{1,61}[a-z0-9])(?:\/(.*))?$/.exec(uri);
  if (!m) throw new Error(`not an S3 URI (expected s3://bucket/prefix): ${uri}`);
  return { bucket: m[1], prefix: (m[2] ?? '').replace(/^\/+/, '') };
}

export function formatS3Uri(loc: S3Location): string {
  return `s3://${loc.bucket}/${loc.prefix}`;
}

/** Joins key parts with single slashes. */
export function joinKey(...parts: string[]): string {
  return parts
    .filter((p) => p !== '')
    .map((p, i) => (i === 0 ? p.replace(/\/+$/, '') : p.replace(/^\/+|\/+$/g, '')))
    .join('/');
}
