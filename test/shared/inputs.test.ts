import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { listClassFolders } from '../../src/demo/upload-sample.js';
import { listDataset } from '../../src/model/train/dataset.js';
import { contentTypeOf } from '../../src/shared/image/local-files.js';
import { CommanderError } from 'commander';
import { UsageError } from '../../src/shared/errors.js';
import { describeError } from '../../src/cli/errors.js';
import { loadConfig } from '../../src/shared/config.js';
import { labelFromKey, parseLabelsFile } from '../../src/shared/labels.js';
import { parseS3Uri } from '../../src/shared/s3/uri.js';
import { stratifiedSample } from '../../src/shared/sampling.js';
import { isImageKey } from '../../src/shared/s3/list-images.js';

describe('configuration', () => {
  it('names each bad setting', () => {
    expect(() => loadConfig({ REDIS_URL: 'http://x', S3_ENDPOINT: 'nope', S3_FORCE_PATH_STYLE: 'maybe' })).toThrow(
      /REDIS_URL="http:\/\/x".*\n.*S3_ENDPOINT="nope".*\n.*S3_FORCE_PATH_STYLE="maybe"/,
    );
  });

  it('reaches the user as one line, exit 2', () => {
    let err: unknown;
    try {
      loadConfig({ REDIS_URL: 'http://x', S3_ENDPOINT: 'nope' });
    } catch (e) {
      err = e;
    }
    expect(describeError(err)).toEqual({
      line: 'invalid configuration: REDIS_URL="http://x": must be a URL starting with redis:// or rediss://; S3_ENDPOINT="nope": must be a URL starting with http:// or https://',
      exitCode: 2,
    });
  });

  it('defaults to path-style addressing when an endpoint is given', () => {
    expect(loadConfig({ S3_ENDPOINT: 'http://127.0.0.1:9000' }).s3.forcePathStyle).toBe(true);
    expect(loadConfig({}).s3.forcePathStyle).toBe(false);
    expect(loadConfig({ S3_ENDPOINT: 'http://h', S3_FORCE_PATH_STYLE: 'false' }).s3.forcePathStyle).toBe(false);
  });
});

describe('labels and keys', () => {
  it('reads the class from the nearest class folder', () => {
    expect(labelFromKey('x/train/PNEUMONIA/p1.jpeg')).toBe('PNEUMONIA');
    expect(labelFromKey('x/normal/a.png')).toBe('NORMAL');
    expect(labelFromKey('x/NORMAL.jpeg')).toBeUndefined();
  });

  it('parses CSV and JSON-lines labels files and names a bad line', () => {
    const m = parseLabelsFile('key,label\na/1.jpg,PNEUMONIA\n"b,2.jpg",normal\nc.jpg,1\n');
    expect([...m]).toEqual([
      ['a/1.jpg', 'PNEUMONIA'],
      ['b,2.jpg', 'NORMAL'],
      ['c.jpg', 'PNEUMONIA'],
    ]);
    expect([...parseLabelsFile('{"key":"c.jpg","label":"NORMAL"}\n')]).toEqual([['c.jpg', 'NORMAL']]);
    expect(() => parseLabelsFile('a.jpg,cat', 'l.csv')).toThrow(/l.csv line 1: label "cat"/);
    expect(() => parseLabelsFile('key,label\nonly-one-field\n', 'l.csv')).toThrow(/l.csv line 2: expected/);
  });

  it('parses S3 URIs and refuses others', () => {
    expect(parseS3Uri('s3://my-bucket/a/b/')).toEqual({ bucket: 'my-bucket', prefix: 'a/b/' });
    expect(parseS3Uri('s3://my-bucket')).toEqual({ bucket: 'my-bucket', prefix: '' });
    expect(() => parseS3Uri('http://x/y')).toThrow(/not an S3 URI/);
  });

  it('keeps image keys only', () => {
    expect(['a.JPG', 'b.jpeg', 'c.png', 'd.txt', 'e/', 'f.tiff'].filter(isImageKey)).toEqual([
      'a.JPG',
      'b.jpeg',
      'c.png',
      'f.tiff',
    ]);
  });

  it('local folders (cxr demo --images, training data) list what the worker scores: DICOM by extension, or by content when a name has none', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'cxr-list-'));
    try {
      const dicm = new Uint8Array(200);
      dicm.set([0x44, 0x49, 0x43, 0x4d], 128);
      const files: Record<string, string | Uint8Array> = {
        'NORMAL/a.jpeg': 'x',
        'NORMAL/b.DCM': 'x',
        'NORMAL/c.dicom': 'x',
        'NORMAL/1.2.840.113619.2.55.3': dicm,
        'NORMAL/IM0001': dicm,
        'NORMAL/README': 'not an image',
        'NORMAL/notes.txt': 'x',
        'NORMAL/.DS_Store': 'x',
        'PNEUMONIA/d.png': 'x',
        'PNEUMONIA/e.webp': 'x',
      };
      for (const [f, v] of Object.entries(files)) {
        mkdirSync(path.dirname(path.join(dir, f)), { recursive: true });
        writeFileSync(path.join(dir, f), v);
      }
      mkdirSync(path.join(dir, 'NORMAL', 'subfolder'));
      const expected = [
        'NORMAL/1.2.840.113619.2.55.3',
        'NORMAL/IM0001',
        'NORMAL/a.jpeg',
        'NORMAL/b.DCM',
        'NORMAL/c.dicom',
        'PNEUMONIA/d.png',
        'PNEUMONIA/e.webp',
      ];
      const listed = [...(await listClassFolders(dir)).values()].flat().map((i) => path.relative(dir, i.file));
      expect(listed).toEqual(expected);
      expect((await listDataset(dir)).map((i) => path.relative(dir, i.path))).toEqual(expected);
      expect(['a.jpeg', 'b.DCM', 'd.png', 'e.webp', 'f.tif', 'IM0001'].map(contentTypeOf)).toEqual([
        'image/jpeg',
        'application/dicom',
        'image/png',
        'image/webp',
        'image/tiff',
        'application/dicom',
      ]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('stratifiedSample', () => {
  it('keeps class shares, is seeded, and never repeats an item', () => {
    const groups = new Map([
      ['NORMAL', Array.from({ length: 1341 }, (_, i) => `n${i}`)],
      ['PNEUMONIA', Array.from({ length: 3875 }, (_, i) => `p${i}`)],
    ]);
    const s = stratifiedSample(groups, 200, 1);
    expect(s.get('NORMAL')!.length).toBe(51);
    expect(s.get('PNEUMONIA')!.length).toBe(149);
    expect(new Set(s.get('PNEUMONIA')).size).toBe(149);
    expect(stratifiedSample(groups, 200, 1)).toEqual(s);
    expect(stratifiedSample(groups, 200, 2)).not.toEqual(s);
  });
});

describe('CLI error lines', () => {
  it('usage errors exit 2, help exits 0 silently, failures exit 1 with S3 error codes named', () => {
    expect(describeError(new UsageError('--date must be YYYY-MM-DD'))).toEqual({
      line: '--date must be YYYY-MM-DD',
      exitCode: 2,
    });
    expect(describeError(new CommanderError(1, 'commander.unknownOption', "error: unknown option '--x'"))).toEqual({
      line: "unknown option '--x'",
      exitCode: 2,
    });
    expect(describeError(new CommanderError(0, 'commander.helpDisplayed', '(outputHelp)'))).toEqual({
      line: '',
      exitCode: 0,
    });
    const denied = Object.assign(new Error('Access Denied'), {
      name: 'AccessDenied',
      $metadata: { httpStatusCode: 403 },
    });
    expect(describeError(denied)).toEqual({ line: 'S3 AccessDenied: Access Denied', exitCode: 1 });
    expect(describeError(new Error('first\nsecond'))).toEqual({ line: 'first; second', exitCode: 1 });
  });
});
