import { describe, expect, it } from 'vitest';
import { UserError, isRetryable } from '../../src/shared/errors.js';
import { parseS3Folder, parseS3Uri } from '../../src/shared/s3/uri.js';

describe('the S3 URI parser', () => {
  it("accepts bucket names within S3's rules, at both length limits", () => {
    expect(parseS3Uri('s3://abc/x/y.jpg')).toEqual({ bucket: 'abc', prefix: 'x/y.jpg' });
    expect(parseS3Uri('s3://my.bucket-2')).toEqual({ bucket: 'my.bucket-2', prefix: '' });
    expect(parseS3Uri('s3://abc//x/')).toEqual({ bucket: 'abc', prefix: 'x/' });
    const longest = `a${'b'.repeat(61)}c`;
    expect(parseS3Uri(`s3://${longest}/k`).bucket).toBe(longest);
  });

  it('refuses each broken rule with one line naming the URI and the reason', () => {
    const refusals: [string, string][] = [
      ['s3://ab/k', 's3://ab/k is not an S3 URI: bucket name "ab" is shorter than 3 characters'],
      [`s3://${'a'.repeat(64)}`, `bucket name "${'a'.repeat(64)}" is 64 characters, over 63`],
      ['s3://My_Bucket/k', 's3://My_Bucket/k is not an S3 URI: bucket name "My_Bucket" has "M", "_", "B"'],
      ['s3://-abc/k', 'bucket name "-abc" must begin and end with a letter or digit'],
      ['s3://abc./k', 'bucket name "abc." must begin and end with a letter or digit'],
      ['s3://a..b/k', 'bucket name "a..b" has two dots together'],
      ['s3://192.168.1.10/k', 'bucket name "192.168.1.10" is an IP address'],
      ['s3:///k', 's3:///k is not an S3 URI: no bucket name'],
      ['https://abc/k', 'https://abc/k is not an S3 URI: expected s3://bucket/prefix'],
    ];
    for (const [uri, line] of refusals) {
      let thrown: unknown;
      try {
        parseS3Uri(uri);
      } catch (err) {
        thrown = err;
      }
      expect(thrown, uri).toBeInstanceOf(UserError);
      expect((thrown as Error).message, uri).toContain(line);
      expect((thrown as Error).message, uri).not.toContain('\n');
      // A person must fix the URI: a job that hits it is not retried.
      expect(isRetryable(thrown), uri).toBe(false);
    }
  });

  it('reads a folder with its prefix ending in "/" (or empty for the whole bucket)', () => {
    expect(parseS3Folder('s3://bkt/models/x')).toEqual({ bucket: 'bkt', prefix: 'models/x/' });
    expect(parseS3Folder('s3://bkt/models/x/')).toEqual({ bucket: 'bkt', prefix: 'models/x/' });
    expect(parseS3Folder('s3://bkt')).toEqual({ bucket: 'bkt', prefix: '' });
    expect(parseS3Folder('s3://bkt/')).toEqual({ bucket: 'bkt', prefix: '' });
    expect(() => parseS3Folder('s3://b/models/x')).toThrow('bucket name "b" is shorter than 3 characters');
  });
});
