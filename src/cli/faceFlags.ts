import { type Command, InvalidArgumentError, Option } from 'commander';
import { UserError } from '../core/errors.js';
import {
  DEFAULT_ANALYSIS_OPTIONS,
  FACE_MASK_AREAS,
  FACE_MASK_REGIONS,
  FACE_MASK_TYPES,
  FACE_OCCLUDER_MODELS,
  FACE_PARSER_MODELS,
  type FaceMaskArea,
  type FaceMaskRegion,
  type FaceOccluderModel,
  type FaceParserModel,
  GENDERS,
  RACES,
} from '../vision/analysisOptions.js';
import { FACE_DETECTOR_ANGLES, type FaceDetectorAngle } from '../vision/detectors/detector.js';
import { DETECTOR_NAMES } from '../vision/detectors/registry.js';
import {
  DEFAULT_EXECUTION,
  EXECUTION_PROVIDERS,
  type ExecutionOptions,
  type ExecutionProvider,
  FACE_SELECTOR_ORDERS,
  type FaceMaskType,
  type FaceOptions,
  type FaceSelectorMode,
  type FaceSelectorOrder,
  faceOptionsOf,
} from '../vision/faceOptions.js';
import type { AnyProcessorDescriptor, OptionKind } from '../vision/processors/descriptor.js';
import { PROCESSORS } from '../vision/processors/list.js';
import { DEFAULT_PROCESSOR_THREADS } from '../vision/processors/threadedChain.js';
import { defaultFramesInFlight } from '../worker/processTask.js';
import { percent, positiveInt, unitInterval, wholeNumber } from './options.js';

export interface DetectorFlags {
  faceDetectorModel: string;
  faceDetectorSize: string;
  faceDetectorScore: number;
  faceDetectorAngles: FaceDetectorAngle[];
  faceDetectorMargin: number[];
}

/**
 * The face flags as commander parses them: the shared face analysis ones, named here, and each
 * processor's own (`--face-swapper-model` as `faceSwapperModel`, ...), named by its descriptor.
 */
export interface FaceFlags extends DetectorFlags {
  [processorFlag: string]: unknown;
  faceLandmarkerModel: FaceOptions['landmarker'];
  faceLandmarkerScore: number;
  faceSelectorMode: FaceSelectorMode;
  faceSelectorOrder: FaceSelectorOrder;
  referenceFaceDistance: number;
  referenceFrameNumber: number;
  referenceFacePosition: number;
  faceSelectorGender?: FaceOptions['selector']['gender'];
  faceSelectorRace?: FaceOptions['selector']['race'];
  faceSelectorAgeStart?: number;
  faceSelectorAgeEnd?: number;
  faceMaskTypes: FaceMaskType[];
  faceMaskAreas: FaceMaskArea[];
  faceMaskRegions: FaceMaskRegion[];
  faceParserModel: FaceParserModel;
  faceOccluderModel: FaceOccluderModel;
  faceMaskBlur: number;
  /** 1 to 4 percentages, as given; `faceOptionsFromFlags` makes them top, right, bottom, left. */
  faceMaskPadding: number[];
}

export interface ExecutionFlags {
  /** FaceFusion's `--execution-providers` takes a list, tried in order: spotfuse uses the first. */
  executionProvider: ExecutionProvider | ExecutionProvider[];
  executionThreadCount: number;
  executionDeviceIds?: number[];
}

export interface FrameLoopFlags {
  /** Absent: by the processor threads (`defaultFramesInFlight`). */
  framesInFlight?: number;
  processorThreads: number;
}

/**
 * A list option as FaceFusion takes it (`--face-mask-types box occlusion`, argparse's `nargs='+'`), commas
 * allowed too: each value given is parsed and added, replacing the default `initial` (compared by identity).
 */
export function listOption<T>(parse: (item: string) => T, initial: readonly T[]) {
  return (value: string, previous: readonly T[]): T[] => [
    ...(previous === initial ? [] : previous),
    ...value
      .split(/[\s,]+/)
      .filter(Boolean)
      .map(parse),
  ];
}

function percentage(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n < 0 || n > 100)
    throw new InvalidArgumentError('give 1 to 4 percentages between 0 and 100, e.g. "10" or "10 0 5 0"');
  return n;
}

/**
 * FaceFusion's normalize_space for `option` (a padding or margin): 1 to 4 percentages, as CSS (top, right,
 * bottom, left; missing ones mirror).
 */
export function paddingOf(
  values: readonly number[],
  option = '--face-mask-padding',
): [number, number, number, number] {
  if (values.length < 1 || values.length > 4)
    throw new UserError(`${option} takes 1 to 4 percentages (top right bottom left)`);
  const [top, right = top, bottom = top, left = right] = values;
  return [top, right, bottom, left];
}

/** One of FaceFusion's names for a list option's item. */
function choice<T extends string>(choices: readonly T[]): (value: string) => T {
  return (value) => {
    if (!choices.includes(value as T)) {
      throw new InvalidArgumentError(
        `use one or more of ${choices.join(', ')} (e.g. "${choices.slice(0, 2).join(' ')}")`,
      );
    }
    return value as T;
  };
}

/** FaceFusion's age bounds: whole years 0 to 100. */
function age(value: string): number {
  const years = wholeNumber(value);
  if (years > 100) throw new InvalidArgumentError('give an age from 0 to 100');
  return years;
}

/** The detector options, shared by `run` and `faces`. */
export function addDetectorOptions(command: Command): Command {
  const { detector } = DEFAULT_ANALYSIS_OPTIONS;
  return command
    .option('--face-detector-model <name>', `face detector: ${DETECTOR_NAMES.join(', ')}`, detector.model)
    .option('--face-detector-size <WxH>', 'detector input size', detector.size)
    .option(
      '--face-detector-score <score>',
      'minimum detection score, 0 to 1',
      unitInterval,
      detector.minScore,
    )
    .addOption(
      new Option(
        '--face-detector-angles <degrees...>',
        `also search the frame turned by these angles (counter-clockwise): ${FACE_DETECTOR_ANGLES.join(', ')}`,
      )
        .argParser(listOption(detectorAngle, detector.angles))
        .default(detector.angles, '0'),
    )
    .addOption(
      new Option(
        '--face-detector-margin <pct...>',
        'black margin around the frame before detection, whole percent of half its side: top [right [bottom [left]]]',
      )
        .argParser(listOption(wholePercentage, detector.margin))
        .default(detector.margin, '0'),
    );
}

/** FaceFusion's margin percentage: a whole number 0 to 100. */
function wholePercentage(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 100)
    throw new InvalidArgumentError('give 1 to 4 whole percentages from 0 to 100, e.g. "10" or "10 0 5 0"');
  return n;
}

function detectorAngle(value: string): FaceDetectorAngle {
  const angle = FACE_DETECTOR_ANGLES.find((degrees) => String(degrees) === value);
  if (angle === undefined)
    throw new InvalidArgumentError(`use one or more of ${FACE_DETECTOR_ANGLES.join(', ')} (e.g. "0 90")`);
  return angle;
}

/**
 * How the CLI reads each kind of processor option (src/vision/processors/descriptor.ts): the argument
 * parser for an option with this default (a list's first value replaces its default).
 */
const PARSERS: Record<
  OptionKind,
  // biome-ignore lint/suspicious/noExplicitAny: a list parser takes the previous values, a scalar one none.
  ((initial: unknown) => (value: string, previous: any) => unknown) | undefined
> = {
  model: undefined,
  size: undefined,
  unit: () => unitInterval,
  percent: () => percent,
  names: (initial) => listOption(String, initial as string[]),
};

/** The flags of the processors' own options, from their descriptors, with FaceFusion's defaults. */
export function processorOptions(descriptors: readonly AnyProcessorDescriptor[] = PROCESSORS): Option[] {
  return descriptors.flatMap((p) => {
    if (!p.options) return [];
    const { defaults, fields } = p.options;
    return Object.entries(
      fields as Record<string, { flag: string; description: string; kind: OptionKind }>,
    ).map(([field, { flag, description, kind }]) => {
      const option = new Option(flag, description);
      const value = (defaults as Record<string, unknown>)[field];
      const parse = PARSERS[kind]?.(value);
      if (parse) option.argParser(parse);
      return value === undefined ? option : option.default(value);
    });
  });
}

/** Each processor's option group, from the flags of `processorOptions`. */
export function processorOptionsFromFlags(
  flags: Readonly<Record<string, unknown>>,
  descriptors: readonly AnyProcessorDescriptor[] = PROCESSORS,
): Record<string, Record<string, unknown>> {
  return Object.fromEntries(
    descriptors.flatMap((p) => {
      if (!p.options) return [];
      const group = Object.entries(p.options.fields as Record<string, { flag: string }>).flatMap(
        ([field, { flag }]) => {
          const value = flags[new Option(flag).attributeName()];
          return value === undefined || value === '' ? [] : [[field, value]];
        },
      );
      return [[p.options.key, Object.fromEntries(group)]];
    }),
  );
}

/** Every face option FaceFusion offers for the processors spotfuse has, with FaceFusion's defaults. */
export function addFaceOptions(command: Command): Command {
  const d = DEFAULT_ANALYSIS_OPTIONS;
  addDetectorOptions(command)
    .addOption(
      new Option('--face-landmarker-model <name>', "68-point landmarker, or none for the detector's 5 points")
        .choices(['none', '2dfan4'])
        .default(d.landmarker),
    )
    .option(
      '--face-landmarker-score <score>',
      'use the 68 points above this score',
      unitInterval,
      d.landmarkerScore,
    )
    .addOption(
      new Option('--face-selector-mode <mode>', 'which faces to process')
        .choices(['reference', 'one', 'many'])
        .default(d.selector.mode),
    )
    .addOption(
      new Option('--face-selector-order <order>', 'face order for "one" and the reference position')
        .choices(FACE_SELECTOR_ORDERS)
        .default(d.selector.order),
    )
    .option(
      '--reference-face-distance <d>',
      'reference mode: faces closer than this ((1 - cosine) / 2) are processed',
      unitInterval,
      d.selector.referenceDistance,
    )
    .option('--reference-frame-number <n>', 'frame the reference face is taken from', wholeNumber, 0)
    .option('--reference-face-position <n>', 'which face of that frame, in selector order', wholeNumber, 0)
    .addOption(
      new Option(
        '--face-selector-gender <gender>',
        "only faces of this gender (fairface); auto: the source face's",
      ).choices([...GENDERS, 'auto']),
    )
    .addOption(
      new Option(
        '--face-selector-race <race>',
        "only faces of this race (fairface); auto: the source face's",
      ).choices([...RACES, 'auto']),
    )
    .option('--face-selector-age-start <years>', 'only faces whose age bracket reaches this age', age)
    .option('--face-selector-age-end <years>', 'only faces whose age bracket starts below this age', age)
    .addOption(
      new Option('--face-mask-types <types...>', `masks to paste through: ${FACE_MASK_TYPES.join(', ')}`)
        .argParser(listOption(choice(FACE_MASK_TYPES), d.mask.types))
        .default(d.mask.types, 'box'),
    )
    .addOption(
      new Option('--face-mask-areas <areas...>', `the area mask's parts: ${FACE_MASK_AREAS.join(', ')}`)
        .argParser(listOption(choice(FACE_MASK_AREAS), d.mask.areas))
        .default(d.mask.areas, 'all'),
    )
    .addOption(
      new Option(
        '--face-mask-regions <regions...>',
        `the region mask's parts: ${FACE_MASK_REGIONS.join(', ')}`,
      )
        .argParser(listOption(choice(FACE_MASK_REGIONS), d.mask.regions))
        .default(d.mask.regions, 'all'),
    )
    .addOption(
      new Option(
        '--face-occluder-model <name>',
        'occluder of the occlusion mask; many: the minimum of all three',
      )
        .choices(FACE_OCCLUDER_MODELS)
        .default(d.mask.occluder),
    )
    .addOption(
      new Option('--face-parser-model <name>', 'face parser of the region mask')
        .choices(FACE_PARSER_MODELS)
        .default(d.mask.parser),
    )
    .option('--face-mask-blur <blur>', 'feathering of the box mask, 0 to 1', unitInterval, d.mask.blur)
    .addOption(
      new Option('--face-mask-padding <pct...>', 'box mask padding in percent: top [right [bottom [left]]]')
        .argParser(listOption(percentage, d.mask.padding))
        .default(d.mask.padding, '0'),
    );
  for (const option of processorOptions()) command.addOption(option);
  return command;
}

export function detectorOptionsFromFlags(flags: DetectorFlags): FaceOptions['detector'] {
  return {
    model: flags.faceDetectorModel,
    size: flags.faceDetectorSize,
    minScore: flags.faceDetectorScore,
    angles: flags.faceDetectorAngles,
    margin: paddingOf(flags.faceDetectorMargin, '--face-detector-margin'),
  };
}

export function faceOptionsFromFlags(flags: FaceFlags): FaceOptions {
  return faceOptionsOf({
    ...processorOptionsFromFlags(flags),
    detector: detectorOptionsFromFlags(flags),
    landmarker: flags.faceLandmarkerModel,
    landmarkerScore: flags.faceLandmarkerScore,
    selector: {
      mode: flags.faceSelectorMode,
      order: flags.faceSelectorOrder,
      referenceDistance: flags.referenceFaceDistance,
      referenceFrame: flags.referenceFrameNumber,
      referencePosition: flags.referenceFacePosition,
      ...definedOnly({
        gender: flags.faceSelectorGender,
        race: flags.faceSelectorRace,
        ageStart: flags.faceSelectorAgeStart,
        ageEnd: flags.faceSelectorAgeEnd,
      }),
    },
    mask: {
      types: [...new Set(flags.faceMaskTypes)],
      blur: flags.faceMaskBlur,
      padding: paddingOf(flags.faceMaskPadding),
      areas: [...new Set(flags.faceMaskAreas)],
      regions: [...new Set(flags.faceMaskRegions)],
      parser: flags.faceParserModel,
      occluder: flags.faceOccluderModel,
    },
  });
}

/** The entries of `values` that are set: a job spec holds no undefined options. */
function definedOnly<T extends object>(values: T): Partial<T> {
  return Object.fromEntries(Object.entries(values).filter(([, value]) => value !== undefined)) as Partial<T>;
}

/** FaceFusion's `--execution-device-ids 0 1` (space-separated); `0,1` works too. */
function deviceIds(value: string, previous: number[] | undefined): number[] {
  const ids = value
    .split(',')
    .filter(Boolean)
    .map((id) => wholeNumber(id));
  return [...(previous ?? []), ...ids];
}

/** `--execution-provider`, `--execution-thread-count` and `--execution-device-ids`, for commands that run models. */
export function addExecutionOptions(command: Command): Command {
  return command
    .addOption(
      new Option(
        '--execution-provider <names...>',
        'where models run (FaceFusion: --execution-providers; of several, the first); webgpu needs a Vulkan driver, cuda/tensorrt onnxruntime-node\'s GPU providers (see "spotfuse doctor")',
      )
        .choices(EXECUTION_PROVIDERS)
        .default(process.env.SPOTFUSE_EXECUTION_PROVIDER ?? DEFAULT_EXECUTION.provider),
    )
    .option(
      '--execution-thread-count <n>',
      'onnxruntime threads per model (0: its default)',
      wholeNumber,
      DEFAULT_EXECUTION.threads,
    )
    .option(
      '--execution-device-ids <ids...>',
      'GPUs (CUDA device numbers) for cuda/tensorrt; run spreads its local workers over them, one GPU each',
      deviceIds,
    );
}

/** `--frames-in-flight` and `--processor-threads`, for the commands that run workers. */
export function addFrameLoopOptions(command: Command): Command {
  return command
    .option(
      '--frames-in-flight <n>',
      "frames a worker has in its processors at once, overlapping one frame's work with the next's " +
        `(memory: n decoded frames; default ${defaultFramesInFlight(1)}, plus 2 per further processor thread)`,
      positiveInt,
    )
    .option(
      '--processor-threads <n>',
      'threads a worker runs its processors in, each with its own copy of the models (memory, GPU memory ' +
        "too: n times the models'), so that several frames' face analysis, warps, paste-back and " +
        'inference run at once',
      positiveInt,
      DEFAULT_PROCESSOR_THREADS,
    );
}

/** The same options, as arguments for a worker process this command starts. */
export function frameLoopArgs(flags: FrameLoopFlags): string[] {
  return [
    ...(flags.framesInFlight === undefined ? [] : ['--frames-in-flight', String(flags.framesInFlight)]),
    ...['--processor-threads', String(flags.processorThreads)],
  ];
}

export function executionFromFlags(flags: ExecutionFlags): ExecutionOptions {
  const deviceId = flags.executionDeviceIds?.[0];
  const provider = flags.executionProvider;
  return {
    provider: Array.isArray(provider) ? provider[0] : provider,
    threads: flags.executionThreadCount,
    ...(deviceId === undefined ? {} : { deviceId }),
  };
}

/** The same execution flags, as arguments for a worker process this command starts. */
export function executionArgs(execution: ExecutionOptions): string[] {
  return [
    '--execution-provider',
    execution.provider,
    '--execution-thread-count',
    String(execution.threads),
    ...(execution.deviceId === undefined ? [] : ['--execution-device-ids', String(execution.deviceId)]),
  ];
}
