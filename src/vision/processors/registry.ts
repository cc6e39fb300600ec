import { UserError } from '../../core/errors.js';
import type { AnyProcessorDescriptor } from './descriptor.js';
import { PROCESSORS } from './list.js';

/** Lookups over the registered processors (`list.ts`). */

export const PROCESSOR_NAMES: readonly string[] = PROCESSORS.map((p) => p.name);

const BY_NAME = new Map<string, AnyProcessorDescriptor>(PROCESSORS.map((p) => [p.name, p]));

/** Parses `--processors a,b` and rejects unknown names before any work starts. */
export function parseProcessorList(list: string): string[] {
  const names = list
    .split(',')
    .map((n) => n.trim())
    .filter(Boolean);
  if (names.length === 0) throw new UserError('no processor given (--processors)');
  for (const name of names) {
    if (!BY_NAME.has(name)) {
      throw new UserError(`unknown processor "${name}" (available: ${PROCESSOR_NAMES.join(', ')})`);
    }
  }
  return names;
}

/** The descriptor of each name, in chain order; unknown names are refused as by `parseProcessorList`. */
export function descriptorsOf(names: readonly string[]): AnyProcessorDescriptor[] {
  return parseProcessorList(names.join(',')).map((name) => BY_NAME.get(name)!);
}

/** The registered processors that a chain of these names contains, in list order, each once. */
export function chainMembers(names: readonly string[]): AnyProcessorDescriptor[] {
  return PROCESSORS.filter((p) => names.includes(p.name));
}

/** Rough GPU milliseconds per 1080p frame of the chain, for the planner (`costMsPerFrame` summed). */
export function chainCostMsPerFrame(names: readonly string[]): number {
  return descriptorsOf(names).reduce((sum, p) => sum + p.costMsPerFrame, 0);
}
