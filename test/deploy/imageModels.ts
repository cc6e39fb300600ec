import { readFileSync } from 'node:fs';
import { join } from 'node:path';

/** The model directory (`SPOTFUSE_MODELS`) that `deploy/DOCKERFILE` sets for its image. */
export function imageModelsDir(dockerfile: string): string | undefined {
  const text = readFileSync(join(import.meta.dirname, '../../deploy', dockerfile), 'utf8');
  return /SPOTFUSE_MODELS=(\S+)/.exec(text)?.[1];
}
