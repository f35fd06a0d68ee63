import { backboneHash } from './backbone.js';
import { readMetadata, type HeadMetadata } from './metadata.js';
import { modelIdOfDir } from './model-id.js';

export interface VerifiedModel {
  dir: string;
  id: string;
  meta: HeadMetadata;
}

/** A model folder's checks before use: trained on this backbone, content id equal to its metadata id. */
export async function verifyModelDir(dir: string): Promise<VerifiedModel> {
  const meta = await readMetadata(dir);
  const bbSha = await backboneHash();
  if (meta.backbone.sha256 !== bbSha) {
    throw new Error(
      `model ${dir} was trained on backbone ${meta.backbone.sha256.slice(0, 16)}, but models/resnet50-imagenet.sha256 is ${bbSha.slice(0, 16)}`,
    );
  }
  const id = await modelIdOfDir(dir, bbSha, meta);
  if (id !== meta.id)
    throw new Error(`model ${dir}: content id ${id} does not match metadata id ${meta.id} (files changed?)`);
  return { dir, id, meta };
}
