import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Option } from 'commander';
import { beforeAll, describe, expect, it } from 'vitest';
import { FACEFUSION_CONFIG } from '../../src/core/facefusionCommandLine.js';
import { PROCESSORS } from '../../src/vision/processors/list.js';
import { writeModel } from '../fixtures/models.js';
import { type Oracle, oracleUnavailable, setUpOracle } from '../helpers/facefusionOracle.js';
import { type ParsedRun, parseRun } from '../helpers/runFlags.js';
import { useTempDir } from '../helpers/tempDir.js';
import { ORACLE_TIMEOUT, runHarness } from './oracleCases.js';

/**
 * FaceFusion users' command lines, parsed by FaceFusion 3.8.1's own argument parser (and its `apply_args`,
 * which normalises them) and by `spotfuse run`: every option a line gives means the same to both.
 */

const dir = useTempDir();
const IO = ['-s', 'face.jpg', '-t', 'video.mp4', '-o', 'out.mp4'];

/** What FaceFusion's state key holds, read from what spotfuse parsed; the processors' own from their descriptors. */
const SPOTFUSE: Record<string, (run: ParsedRun) => unknown> = {
  source_paths: (r) => r.flags.source,
  target_path: (r) => r.flags.target,
  output_path: (r) => r.flags.output,
  processors: (r) => r.flags.processors,
  execution_providers: (r) => [r.execution.provider],
  execution_device_ids: (r) => r.flags.executionDeviceIds,
  execution_thread_count: (r) => r.execution.threads,
  face_detector_model: (r) => r.face.detector.model,
  face_detector_size: (r) => r.face.detector.size,
  face_detector_score: (r) => r.face.detector.minScore,
  face_detector_angles: (r) => r.face.detector.angles,
  face_detector_margin: (r) => r.face.detector.margin,
  face_landmarker_model: (r) => r.face.landmarker,
  face_landmarker_score: (r) => r.face.landmarkerScore,
  face_selector_mode: (r) => r.face.selector.mode,
  face_selector_order: (r) => r.face.selector.order,
  reference_face_distance: (r) => r.face.selector.referenceDistance,
  reference_frame_number: (r) => r.face.selector.referenceFrame,
  reference_face_position: (r) => r.face.selector.referencePosition,
  face_mask_types: (r) => r.face.mask.types,
  face_mask_blur: (r) => r.face.mask.blur,
  face_mask_padding: (r) => r.face.mask.padding,
  output_video_encoder: (r) => r.encoder.encoder,
  output_video_preset: (r) => r.encoder.preset,
  output_video_quality: (r) => r.encoder.quality,
  output_video_scale: (r) => r.encoder.scale ?? 1,
  ...Object.fromEntries(
    PROCESSORS.flatMap((p) =>
      Object.entries((p.options?.fields ?? {}) as Record<string, { flag: string }>).map(
        ([field, { flag }]) => [
          new Option(flag).long?.slice(2).replaceAll('-', '_'),
          (r: ParsedRun) =>
            (r.face as unknown as Record<string, Record<string, unknown>>)[p.options?.key ?? ''][field],
        ],
      ),
    ),
  ),
};

/** Real-looking FaceFusion headless-run lines, from its argument parser's options and choices. */
const LINES: string[][] = [
  [...IO, '--processors', 'face_swapper', 'face_enhancer', '--execution-providers', 'cpu'],
  [
    ...['-s', 'a.jpg', 'b.jpg', 'c.png', '--target-path', 'clip.mov', '--output-path', 'swapped.mov'],
    // FaceFusion offers only the providers it finds: here, cpu.
    ...['--execution-providers', 'cpu', '--execution-device-ids', '0', '1', '--execution-thread-count', '4'],
    ...['--face-swapper-model', 'inswapper_128', '--face-swapper-pixel-boost', '512x512'],
  ],
  [
    ...IO,
    ...['--face-detector-model', 'scrfd', '--face-detector-size', '320x320', '--face-detector-score', '0.65'],
    ...['--face-detector-angles', '0', '180', '270', '--face-detector-margin', '10', '0', '5'],
    ...['--face-landmarker-model', '2dfan4', '--face-landmarker-score', '0.3'],
    ...['--face-selector-mode', 'one', '--face-selector-order', 'small-large'],
  ],
  [
    ...IO,
    ...['--face-selector-mode', 'reference', '--reference-face-distance', '0.45'],
    ...['--reference-frame-number', '12', '--reference-face-position', '1'],
    ...[
      '--face-mask-types',
      'box',
      'occlusion',
      '--face-mask-blur',
      '0.5',
      '--face-mask-padding',
      '10',
      '0',
      '5',
    ],
  ],
  [
    ...IO,
    ...[
      '--processors',
      'face_enhancer',
      '--face-enhancer-model',
      'codeformer',
      '--face-enhancer-blend',
      '65',
    ],
    ...['--face-enhancer-weight', '0.7', '--face-mask-padding', '4', '8'],
  ],
  [
    ...IO,
    ...['--processors', 'frame_enhancer', '--frame-enhancer-model', 'real_esrgan_x2'],
    ...['--frame-enhancer-blend', '90', '--output-video-encoder', 'libx264', '--output-video-preset', 'slow'],
    ...['--output-video-quality', '90', '--face-detector-model', 'yunet', '--face-detector-score=0.7'],
    ...['--output-video-scale', '1.5'],
  ],
  [
    ...IO,
    '--face-selector-mode',
    'many',
    '--face-selector-order',
    'best-worst',
    '--face-detector-margin',
    '25',
  ],
  [
    ...IO,
    ...['--processors', 'face_swapper', 'face_debugger'],
    ...['--face-debugger-items', 'bounding-box', 'face-landmark-68/5', 'face-mask'],
  ],
];

/** State keys of FaceFusion's subcommands and of its job commands' positional arguments, none an option. */
const OTHER_COMMANDS = ['command', 'job_id', 'job_status', 'step_index'];

/** The FaceFusion options a line gives, as state keys (`-s` is source_paths). */
function givenKeys(line: string[]): string[] {
  const short: Record<string, string> = { '-s': 'source_paths', '-t': 'target_path', '-o': 'output_path' };
  return line.flatMap((arg) =>
    short[arg] ? [short[arg]] : arg.startsWith('--') ? [arg.slice(2).split('=')[0].replaceAll('-', '_')] : [],
  );
}

describe.skipIf(oracleUnavailable())(
  "FaceFusion 3.8.1's command line, parsed by FaceFusion and by spotfuse run",
  () => {
    let oracle: Oracle;

    beforeAll(async () => {
      const models = join(dir(), 'models');
      await writeModel(models, 'yoloface_8n');
      oracle = setUpOracle(join(dir(), 'ff'), models);
    }, ORACLE_TIMEOUT);

    const facefusion = (lines: string[][]) =>
      runHarness<Record<string, unknown>[]>(oracle, 'parse_command_lines.py', lines, dir());

    it(
      'every option of every line means the same to both, and FaceFusion has no option spotfuse does not know of',
      async () => {
        const states = await facefusion(LINES);
        for (const [i, line] of LINES.entries()) {
          const state = states[i];
          expect(state, line.join(' ')).not.toHaveProperty('error');
          const ours = parseRun(line);
          for (const key of givenKeys(line)) {
            expect(SPOTFUSE[key], `spotfuse reads ${key}`).toBeDefined();
            expect(SPOTFUSE[key](ours), `${key} in: ${line.join(' ')}`).toEqual(state[key]);
          }
        }
        const known = new Set(Object.values(FACEFUSION_CONFIG).flat());
        expect(
          Object.keys(states[0]).filter((key) => !OTHER_COMMANDS.includes(key) && !known.has(key)),
        ).toEqual([]);
      },
      ORACLE_TIMEOUT,
    );

    it(
      "a facefusion.ini's options are defaults to both, the command line's win",
      async () => {
        const ini = join(dir(), 'facefusion.ini');
        const config: Record<string, string> = {
          source_paths: 'ini-a.jpg ini-b.jpg',
          target_path: 'ini-video.mp4',
          face_mask_types: 'box occlusion',
          face_mask_padding: '6 3',
          processors: 'face_swapper face_enhancer',
          face_enhancer_blend: '35',
          face_swapper_model: 'inswapper_128',
          execution_thread_count: '3',
          face_detector_score: '0.55',
          face_detector_margin: '15 5',
        };
        writeFileSync(
          ini,
          Object.entries(FACEFUSION_CONFIG)
            .map(([section, keys]) =>
              [`[${section}]`, ...keys.filter((k) => k in config).map((k) => `${k} = ${config[k]}`)].join(
                '\n',
              ),
            )
            .join('\n'),
        );
        const line = [
          '--config-path',
          ini,
          '-o',
          'out.mp4',
          '--processors',
          'face_swapper',
          '--face-mask-types',
          'box',
        ];
        const [state] = await facefusion([line]);
        expect(state).not.toHaveProperty('error');
        const ours = parseRun(line);
        for (const key of [...Object.keys(config), ...givenKeys(line).filter((k) => k !== 'config_path')])
          expect(SPOTFUSE[key](ours), key).toEqual(state[key]);
        expect(ours.flags.processors).toEqual(['face_swapper']);
        expect(ours.face.mask.padding).toEqual([6, 3, 6, 3]);
        expect(ours.face.detector.margin).toEqual([15, 5, 15, 5]);
      },
      ORACLE_TIMEOUT,
    );
  },
);
