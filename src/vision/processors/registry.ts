import { UserError } from '../../core/errors.js';
import type { Processor, ProcessorOptions } from '../processor.js';
import { PassthroughProcessor } from './passthrough.js';

const FACTORIES: Record<string, () => Processor> = {
  passthrough: () => new PassthroughProcessor(),
};

export const PROCESSOR_NAMES = Object.keys(FACTORIES);

/** Parses `--processors a,b` and rejects unknown names before any work starts. */
export function parseProcessorList(list: string): string[] {
  const names = list
    .split(',')
    .map((n) => n.trim())
    .filter(Boolean);
  if (names.length === 0) throw new UserError('no processor given (--processors)');
  for (const name of names) {
    if (!FACTORIES[name]) {
      throw new UserError(`unknown processor "${name}" (available: ${PROCESSOR_NAMES.join(', ')})`);
    }
  }
  return names;
}

/** Loads the chain in order; on failure, disposes what was already loaded. */
export async function loadProcessorChain(
  names: readonly string[],
  options: ProcessorOptions,
): Promise<Processor[]> {
  const chain: Processor[] = [];
  try {
    for (const name of parseProcessorList(names.join(','))) {
      const processor = FACTORIES[name]();
      await processor.load(options);
      chain.push(processor);
    }
    return chain;
  } catch (error) {
    await Promise.all(chain.map((p) => p.dispose()));
    throw error;
  }
}
