/**
 * FaceFusion 3.8.1's command line and `facefusion.ini`, as data and pure rules: which options it has, how
 * its .ini names them, and how a FaceFusion `headless-run` command line becomes one spotfuse parses.
 */

/**
 * Every key of FaceFusion 3.8.1's `facefusion.ini`, by section, in its order. Each key is also the option
 * `--key-with-dashes` (`source_paths` is `-s/--source-paths`).
 */
export const FACEFUSION_CONFIG: Readonly<Record<string, readonly string[]>> = {
  paths: ['temp_path', 'jobs_path', 'source_paths', 'target_path', 'output_path'],
  patterns: ['source_pattern', 'target_pattern', 'output_pattern'],
  face_detector: [
    'face_detector_model',
    'face_detector_size',
    'face_detector_margin',
    'face_detector_angles',
    'face_detector_score',
  ],
  face_landmarker: ['face_landmarker_model', 'face_landmarker_score'],
  face_selector: [
    'face_selector_mode',
    'face_selector_order',
    'face_selector_age_start',
    'face_selector_age_end',
    'face_selector_gender',
    'face_selector_race',
    'reference_face_position',
    'reference_face_distance',
    'reference_frame_number',
  ],
  face_tracker: ['face_tracker_score'],
  face_masker: [
    'face_occluder_model',
    'face_parser_model',
    'face_mask_types',
    'face_mask_areas',
    'face_mask_regions',
    'face_mask_blur',
    'face_mask_padding',
  ],
  voice_extractor: ['voice_extractor_model'],
  frame_extraction: ['trim_frame_start', 'trim_frame_end', 'temp_frame_format', 'temp_pixel_format'],
  frame_distribution: ['target_frame_amount'],
  output_creation: [
    'output_image_quality',
    'output_image_scale',
    'output_audio_encoder',
    'output_audio_quality',
    'output_audio_volume',
    'output_video_encoder',
    'output_video_preset',
    'output_video_quality',
    'output_video_scale',
    'output_video_fps',
  ],
  workflow: ['workflow_mode', 'workflow_strategy'],
  processors: [
    'processors',
    'age_modifier_model',
    'age_modifier_direction',
    'background_remover_model',
    'background_remover_fill_color',
    'background_remover_despill_color',
    'deep_swapper_model',
    'deep_swapper_morph',
    'expression_restorer_model',
    'expression_restorer_factor',
    'expression_restorer_areas',
    'face_debugger_items',
    'face_editor_model',
    'face_editor_eyebrow_direction',
    'face_editor_eye_gaze_horizontal',
    'face_editor_eye_gaze_vertical',
    'face_editor_eye_open_ratio',
    'face_editor_lip_open_ratio',
    'face_editor_mouth_grim',
    'face_editor_mouth_pout',
    'face_editor_mouth_purse',
    'face_editor_mouth_smile',
    'face_editor_mouth_position_horizontal',
    'face_editor_mouth_position_vertical',
    'face_editor_head_pitch',
    'face_editor_head_yaw',
    'face_editor_head_roll',
    'face_enhancer_model',
    'face_enhancer_blend',
    'face_enhancer_weight',
    'face_swapper_model',
    'face_swapper_pixel_boost',
    'face_swapper_weight',
    'frame_colorizer_model',
    'frame_colorizer_size',
    'frame_colorizer_blend',
    'frame_enhancer_model',
    'frame_enhancer_blend',
    'lip_syncer_model',
    'lip_syncer_weight',
  ],
  uis: ['open_browser', 'ui_layouts', 'ui_workflow'],
  download: ['download_providers', 'download_scope'],
  benchmark: ['benchmark_mode', 'benchmark_resolutions', 'benchmark_cycle_count'],
  execution: ['execution_device_ids', 'execution_providers', 'execution_thread_count'],
  memory: ['video_memory_strategy'],
  misc: ['log_level', 'halt_on_error'],
};

/** The keys whose option takes several values (argparse's `nargs='+'`); the .ini lists them blank-separated. */
const LIST_KEYS = new Set([
  'source_paths',
  'face_detector_margin',
  'face_detector_angles',
  'face_mask_types',
  'face_mask_areas',
  'face_mask_regions',
  'face_mask_padding',
  'processors',
  'background_remover_fill_color',
  'background_remover_despill_color',
  'expression_restorer_areas',
  'face_debugger_items',
  'ui_layouts',
  'benchmark_resolutions',
  'download_providers',
  'execution_device_ids',
  'execution_providers',
]);

/** Options that take no value. */
const SWITCH_KEYS = new Set(['open_browser', 'halt_on_error']);

/**
 * FaceFusion's options about FaceFusion's own housekeeping, which have no meaning for spotfuse's output:
 * accepted and ignored, each with the reason.
 */
export const FACEFUSION_HOUSEKEEPING: Readonly<Record<string, string>> = {
  '--temp-path': 'spotfuse keeps its work under --state-dir',
  '--jobs-path': 'spotfuse keeps its jobs under --state-dir',
  '--temp-frame-format': 'spotfuse writes no temporary frames',
  '--temp-pixel-format': 'spotfuse writes no temporary frames',
  '--workflow-mode': 'spotfuse picks the workflow from the target',
  '--workflow-strategy': 'spotfuse streams frames, it never holds a video in memory',
  '--video-memory-strategy': 'spotfuse loads each model once per worker',
  '--download-providers': 'models come from --model-base-url',
  '--download-scope': 'models come from --model-base-url',
  '--log-level': 'use --quiet or --verbose',
  '--halt-on-error': 'a failed job stops with its error',
  '--open-browser': 'use --ui for the dashboard',
  '--ui-layouts': 'use --ui for the dashboard',
  '--ui-workflow': 'use --ui for the dashboard',
};

/** FaceFusion's long names that spotfuse spells its own way, and its short forms. */
export const FACEFUSION_ALIASES: Readonly<Record<string, string>> = {
  '--source-paths': '--source',
  '--target-path': '--target',
  '--output-path': '--output',
  '--execution-providers': '--execution-provider',
};

const optionOf = (key: string) => `--${key.replaceAll('_', '-')}`;

/** Every option of FaceFusion's, by its long name, `--config-path` included. */
export const FACEFUSION_OPTIONS: ReadonlySet<string> = new Set([
  '--config-path',
  ...Object.values(FACEFUSION_CONFIG).flat().map(optionOf),
]);

export interface IniSections {
  [section: string]: Record<string, string>;
}

/**
 * Reads an .ini as Python's ConfigParser does with its defaults: `[section]` headers, `key = value` or
 * `key: value`, keys lower-cased, `#` and `;` comment lines, indented lines continuing the value before; a
 * section or a key of a section given twice is an error, as there. A problem is returned as a string.
 */
export function parseIni(text: string): IniSections | string {
  const sections: IniSections = {};
  let section: Record<string, string> | undefined;
  let lastKey: string | undefined;
  const lines = text.replace(/^\uFEFF/, '').split(/\r?\n/);
  for (const [i, line] of lines.entries()) {
    const trimmed = line.trim();
    if (trimmed === '' || trimmed.startsWith('#') || trimmed.startsWith(';')) {
      if (trimmed === '') lastKey = undefined;
      continue;
    }
    if (/^\s/.test(line) && section && lastKey !== undefined) {
      section[lastKey] = `${section[lastKey]}\n${trimmed}`;
      continue;
    }
    const header = /^\[([^\]]+)\]\s*$/.exec(trimmed);
    if (header) {
      if (sections[header[1]]) return `line ${i + 1}: section [${header[1]}] appears twice`;
      section = sections[header[1]] = {};
      lastKey = undefined;
      continue;
    }
    const pair = /^([^=:]+?)\s*[=:]\s*(.*)$/.exec(trimmed);
    if (!pair) return `line ${i + 1} is neither a [section] nor key = value`;
    if (!section) return `line ${i + 1} comes before any [section]`;
    lastKey = pair[1].toLowerCase();
    if (lastKey in section) return `line ${i + 1}: ${lastKey} appears twice in its section`;
    section[lastKey] = pair[2];
  }
  return sections;
}

/**
 * The options a `facefusion.ini` sets, as command-line arguments, the way FaceFusion reads it: a key counts
 * only in its own section and only when its value is not blank; list values are split on blanks.
 */
export function iniArguments(sections: IniSections): string[] {
  const args: string[] = [];
  for (const [name, keys] of Object.entries(FACEFUSION_CONFIG)) {
    for (const key of keys) {
      const value = sections[name]?.[key]?.trim();
      if (!value) continue;
      if (SWITCH_KEYS.has(key)) {
        if (/^(1|yes|true|on)$/i.test(value)) args.push(optionOf(key));
      } else if (LIST_KEYS.has(key)) args.push(optionOf(key), ...value.split(/\s+/));
      else args.push(optionOf(key), value);
    }
  }
  return args;
}

/** The long option an argument names (`--x=1` names `--x`; `-s` is `--source-paths`), or undefined for a value. */
function optionName(arg: string): string | undefined {
  if (arg === '-s') return '--source-paths';
  if (arg === '-t') return '--target-path';
  if (arg === '-o') return '--output-path';
  return arg.startsWith('--') && arg.length > 2 ? arg.split('=', 1)[0] : undefined;
}

/** A FaceFusion-style command line, made into one spotfuse's own parser reads. */
export interface TranslatedCommandLine {
  args: string[];
  /** FaceFusion's housekeeping options that were given, which spotfuse ignores. */
  ignored: string[];
  /** FaceFusion's options that spotfuse does not support (yet). */
  unsupported: string[];
}

/**
 * Translates FaceFusion's spellings to spotfuse's (`--source-paths` is `--source`, ...), takes FaceFusion's
 * housekeeping options out, and names those FaceFusion has and `known` (spotfuse's options) has not.
 * `config`, the arguments of a `--config-path` file, go first, less any option the command line gives itself.
 */
export function translateCommandLine(
  args: readonly string[],
  known: ReadonlySet<string>,
  config: readonly string[] = [],
): TranslatedCommandLine {
  const canonical = (name: string) => FACEFUSION_ALIASES[name] ?? name;
  const given = new Set(
    args
      .map(optionName)
      .filter((n) => n !== undefined)
      .map(canonical),
  );
  const fromConfig = withoutOptions(config, (name) => given.has(canonical(name)));
  const ignored = new Set<string>();
  const unsupported = new Set<string>();
  const out: string[] = [];
  let skipping = false;
  for (const arg of [...fromConfig, ...args]) {
    const name = optionName(arg);
    if (name === undefined) {
      if (!skipping) out.push(arg);
      continue;
    }
    skipping = false;
    const spotfuse = canonical(name);
    if (known.has(spotfuse) || !FACEFUSION_OPTIONS.has(name)) {
      // `-s`, `-t`, `-o` are spotfuse's too; an option neither knows is left for the parser to refuse.
      out.push(arg.startsWith('--') ? spotfuse + arg.slice(name.length) : arg);
      continue;
    }
    skipping = true;
    if (FACEFUSION_HOUSEKEEPING[name]) ignored.add(name);
    else unsupported.add(name);
  }
  return { args: out, ignored: [...ignored], unsupported: [...unsupported] };
}

/** `args` less the options `drop` names, with their values. */
function withoutOptions(args: readonly string[], drop: (name: string) => boolean): string[] {
  const kept: string[] = [];
  let dropping = false;
  for (const arg of args) {
    const name = optionName(arg);
    if (name !== undefined) dropping = drop(name);
    if (!dropping) kept.push(arg);
  }
  return kept;
}
