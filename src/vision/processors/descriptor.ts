import type { FaceAnalysisOptions } from '../analysisOptions.js';
import type { Processor } from '../processor.js';

/**
 * The kinds of values a processor option takes; each has one CLI parser (src/cli/faceFlags.ts) and one
 * wire schema (src/protocol/wire.ts), so a processor's flags and API fields follow from its descriptor:
 * `model` a model name (1–100 characters), `size` a `WxH` size (up to 20 characters), `unit` a number
 * from 0 to 1, `percent` a number from 0 to 100, `names` a list of 1–20 names (FaceFusion's `nargs='+'`:
 * space- or comma-separated on the command line), each checked by the descriptor's `check`.
 */
export type OptionKind = 'model' | 'size' | 'unit' | 'percent' | 'names';

/** One option of a processor: its FaceFusion flag, as `--name <value>`, and the kind of value it takes. */
export interface OptionField {
  flag: string;
  description: string;
  kind: OptionKind;
}

/**
 * A processor's own group of face options, under `face.<key>` in a job spec and in `POST /v1/jobs`, with
 * FaceFusion's defaults. An option whose default is absent is optional (e.g. the swapper's pixel boost).
 */
export interface OptionGroup<Key extends string, Options extends object> {
  key: Key;
  defaults: Options;
  fields: { [Field in keyof Options]-?: OptionField };
}

/** The face options a processor of this descriptor is loaded with: the shared analysis plus its group. */
export type LoadedOptions<Key extends string, Options extends object> = FaceAnalysisOptions & {
  [K in Key]: Options;
};

/**
 * Everything spotfuse knows of a processor, in the processor's own folder: its options (with defaults
 * and validation), the models it needs, its cost for planning and its factory. Registered in
 * `processors/list.ts`; CLI flags, API schemas, option groups and model lists are derived from it.
 */
export interface ProcessorDescriptor<Key extends string = string, Options extends object = object> {
  /** FaceFusion's name, as `--processors` takes it. */
  name: string;
  /** Works on the faces the shared face analyser finds (so reads the detector, selector and mask options). */
  analysesFaces: boolean;
  /** Needs the source images' face (`-s`). */
  needsSourceFace: boolean;
  /** Rough GPU milliseconds per 1080p frame, used only to size tasks to 5–10 minutes of GPU work. */
  costMsPerFrame: number;
  options?: OptionGroup<Key, Options>;
  /** Throws a UserError for values no schema can check (unknown model, bad size), before a job is queued. */
  check?(options: Options): void;
  /** The models it opens besides the face analysis ones, by model-manager name. */
  models?(options: Options): string[];
  /** A new, unloaded processor; its module is imported only here, so describing one loads no model code. */
  create(): Promise<Processor<LoadedOptions<Key, Options>>>;
}

/** A descriptor of any processor, as lists and lookups hold them. */
// biome-ignore lint/suspicious/noExplicitAny: the list holds descriptors of every option type.
export type AnyProcessorDescriptor = ProcessorDescriptor<string, any>;

/** Declares a processor, keeping its option key and type for the derived `FaceOptions`. */
export function defineProcessor<const Key extends string, Options extends object = Record<never, never>>(
  descriptor: ProcessorDescriptor<Key, Options>,
): ProcessorDescriptor<Key, Options> {
  return descriptor;
}

/** The option groups of descriptors, as `{ [key]: options }`; one intersection for the whole list. */
type GroupOf<D> = D extends { options?: OptionGroup<infer Key, infer Options> }
  ? string extends Key
    ? Record<never, never>
    : { [K in Key]: Options }
  : Record<never, never>;
type Intersect<U> = (U extends unknown ? (x: U) => void : never) extends (x: infer I) => void ? I : never;
export type OptionGroupsOf<List extends readonly unknown[]> = Intersect<GroupOf<List[number]>>;
