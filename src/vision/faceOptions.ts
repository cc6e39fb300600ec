import { DEFAULT_ANALYSIS_OPTIONS, type FaceAnalysisOptions } from './analysisOptions.js';
import type { AnyProcessorDescriptor, OptionGroupsOf } from './processors/descriptor.js';
import { PROCESSORS } from './processors/list.js';

export {
  FACE_SELECTOR_ORDERS,
  type FaceAnalysisOptions,
  type FaceMaskType,
  type FaceSelectorMode,
  type FaceSelectorOrder,
} from './analysisOptions.js';
export {
  DEFAULT_EXECUTION,
  EXECUTION_PROVIDERS,
  type ExecutionOptions,
  type ExecutionProvider,
} from './execution.js';

/**
 * FaceFusion's face options with its defaults (facefusion.md §2–5), part of the job spec: the shared face
 * analysis groups, then one group per registered processor that has options (`face.swapper`, ...).
 */
export type FaceOptions = FaceAnalysisOptions & OptionGroupsOf<typeof PROCESSORS>;

/** The option groups of these processors with their defaults, `{ [key]: defaults }`. */
export function processorDefaults(processors: readonly AnyProcessorDescriptor[]): Record<string, object> {
  return Object.fromEntries(
    processors.flatMap((p) => (p.options ? [[p.options.key, p.options.defaults]] : [])),
  );
}

export const DEFAULT_FACE_OPTIONS = {
  ...DEFAULT_ANALYSIS_OPTIONS,
  ...processorDefaults(PROCESSORS),
} as FaceOptions;

const isGroup = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/**
 * A job's face options, whole: every group of `settings` (a job spec's options, or any subset a client
 * sent, already checked against the API schema) over FaceFusion's defaults, group by group.
 */
export function faceOptionsOf(settings: Readonly<Record<string, unknown>>): FaceOptions {
  const defaults: Record<string, unknown> = DEFAULT_FACE_OPTIONS;
  const merged = Object.fromEntries(
    Object.entries(defaults).map(([group, value]) => {
      const given = settings[group];
      if (given === undefined) return [group, value];
      return [group, isGroup(value) && isGroup(given) ? { ...value, ...given } : given];
    }),
  );
  return merged as FaceOptions;
}
