import { UserError } from '../errors.js';

export interface S3Location {
  bucket: string;
  /** Key prefix without a leading slash; '' for the whole bucket. */
  prefix: string;
}

/**
 * Parses s3://bucket/prefix. A bucket name S3 would refuse (3 to 63 characters: lowercase letters, digits, dots
 * and hyphens, a letter or digit at each end, no two dots together, not an IP address) fails here, as one line
 * naming the URI and the reason, rather than later as an S3 error about a bucket that cannot exist.
 */
export function parseS3Uri(uri: string): S3Location {
  const m = /^s3:\/\/([^/]*)(?:\/(.*))?$/.exec(uri);
  if (!m) throw new UserError(`${uri} is not an S3 URI: expected s3://bucket/prefix`);
  const why = bucketNameProblem(m[1]);
  if (why) throw new UserError(`${uri} is not an S3 URI: ${why}`);
  return { bucket: m[1], prefix: (m[2] ?? '').replace(/^\/+/, '') };
}

/** The same as a folder: the prefix ends with '/' (or is '' for the whole bucket), so file names join onto it. */
export function parseS3Folder(uri: string): S3Location {
  const loc = parseS3Uri(uri);
  return { ...loc, prefix: loc.prefix === '' || loc.prefix.endsWith('/') ? loc.prefix : `${loc.prefix}/` };
}

/** What S3's bucket naming rules say against `name`, or undefined when it is a valid bucket name. */
function bucketNameProblem(name: string): string | undefined {
  if (name === '') return 'no bucket name (expected s3://bucket/prefix)';
  const rules = 'S3 bucket names are 3 to 63 lowercase letters, digits, dots and hyphens';
  if (name.length < 3) return `bucket name "${name}" is shorter than 3 characters; ${rules}`;
  if (name.length > 63) return `bucket name "${name}" is ${name.length} characters, over 63; ${rules}`;
  const bad = [...new Set(name.replace(/[a-z0-9.-]/g, ''))];
  if (bad.length) return `bucket name "${name}" has ${bad.map((c) => JSON.stringify(c)).join(', ')}; ${rules}`;
  if (!/^[a-z0-9].*[a-z0-9]$/.test(name)) return `bucket name "${name}" must begin and end with a letter or digit`;
  if (name.includes('..')) return `bucket name "${name}" has two dots together`;
  if (/^\d+\.\d+\.\d+\.\d+$/.test(name)) return `bucket name "${name}" is an IP address`;
  return undefined;
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
