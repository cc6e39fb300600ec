import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { UserError } from '../../src/core/errors.js';
import {
  FACEFUSION_CONFIG,
  iniArguments,
  parseIni,
  translateCommandLine,
} from '../../src/core/facefusionCommandLine.js';
import { ORACLE } from '../helpers/facefusionOracle.js';
import { parseRun } from '../helpers/runFlags.js';
import { useTempDir } from '../helpers/tempDir.js';

const dir = useTempDir();
const IO = ['-s', 'face.jpg', '-t', 'video.mp4', '-o', 'out.mp4'];
const SHIPPED_INI = join(ORACLE, 'facefusion-3.8.1', 'facefusion.ini');

describe("FaceFusion's command line, as spotfuse run takes it", () => {
  it('takes FaceFusion headless-run flags in their own forms: lists after one flag, plural names, paths', () => {
    const run = parseRun([
      ...['--source-paths', 'a.jpg', 'b.jpg', '--target-path', 'video.mp4', '--output-path', 'out.mp4'],
      ...['--processors', 'face_swapper', 'face_enhancer'],
      ...['--execution-providers', 'cuda', 'cpu', '--execution-device-ids', '0', '1'],
      ...['--execution-thread-count', '4'],
    ]);
    expect(run.flags.source).toEqual(['a.jpg', 'b.jpg']);
    expect(run.flags.target).toBe('video.mp4');
    expect(run.flags.output).toBe('out.mp4');
    expect(run.flags.processors).toEqual(['face_swapper', 'face_enhancer']);
    expect(run.execution).toEqual({ provider: 'cuda', threads: 4, deviceId: 0 });
    expect(run.flags.executionDeviceIds).toEqual([0, 1]);
    expect(run.said).toEqual([]);
  });

  it("reads -s with several paths, and spotfuse's own repeated -s and commas", () => {
    expect(parseRun(['-s', 'a.jpg', 'b.jpg', '-t', 'v.mp4', '-o', 'o.mp4']).flags.source).toEqual([
      'a.jpg',
      'b.jpg',
    ]);
    expect(parseRun(['-s', 'a.jpg', '-t', 'v.mp4', '-s', 'b.jpg', '-o', 'o.mp4']).flags.source).toEqual([
      'a.jpg',
      'b.jpg',
    ]);
    expect(parseRun([...IO, '--processors', 'face_swapper,face_enhancer']).flags.processors).toEqual([
      'face_swapper',
      'face_enhancer',
    ]);
    expect(parseRun(IO).flags.processors).toEqual(['face_swapper']);
  });

  it('reads the face, mask and processor options as FaceFusion spells them, --name=value included', () => {
    const run = parseRun([
      ...IO,
      ...['--face-detector-model', 'scrfd', '--face-detector-size=320x320', '--face-detector-score', '0.6'],
      ...['--face-detector-angles', '0', '90', '270', '--face-detector-margin', '10', '0', '5'],
      ...['--face-landmarker-model', '2dfan4', '--face-landmarker-score', '0.4'],
      ...['--face-selector-mode', 'one', '--face-selector-order', 'left-right'],
      ...[
        '--reference-face-distance',
        '0.4',
        '--reference-frame-number',
        '3',
        '--reference-face-position',
        '1',
      ],
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
      ...['--face-swapper-model', 'inswapper_128', '--face-swapper-pixel-boost', '256x256'],
      ...['--face-enhancer-model', 'codeformer', '--face-enhancer-blend', '60'],
      ...['--output-video-preset', 'fast', '--output-video-quality', '60', '--output-video-scale', '1.5'],
    ]);
    expect(run.face.detector).toEqual({
      model: 'scrfd',
      size: '320x320',
      minScore: 0.6,
      angles: [0, 90, 270],
      // Three values are top, sides, bottom, as FaceFusion's normalize_space reads them.
      margin: [10, 0, 5, 0],
    });
    expect(parseRun(IO).face.detector).toMatchObject({ angles: [0], margin: [0, 0, 0, 0] });
    expect(parseRun([...IO, '--face-detector-margin', '20']).face.detector.margin).toEqual([20, 20, 20, 20]);
    expect(parseRun([...IO, '--face-detector-margin', '5', '7']).face.detector.margin).toEqual([5, 7, 5, 7]);
    expect(() => parseRun([...IO, '--face-detector-angles', '45'])).toThrow(
      'use one or more of 0, 90, 180, 270',
    );
    for (const wrong of [['101'], ['2.5'], ['1', '2', '3', '4', '5']]) {
      expect(() => parseRun([...IO, '--face-detector-margin', ...wrong]), wrong.join(' ')).toThrow(
        /whole percentages from 0 to 100|takes 1 to 4 percentages/,
      );
    }
    expect([run.face.landmarker, run.face.landmarkerScore]).toEqual(['2dfan4', 0.4]);
    expect(run.face.selector).toEqual({
      mode: 'one',
      order: 'left-right',
      referenceDistance: 0.4,
      referenceFrame: 3,
      referencePosition: 1,
    });
    // Three values are top, sides, bottom, as FaceFusion's normalize_space reads them.
    expect(run.face.mask).toMatchObject({ types: ['box', 'occlusion'], blur: 0.5, padding: [10, 0, 5, 0] });
    expect(run.face.swapper).toEqual({ model: 'inswapper_128', pixelBoost: '256x256', weight: 0.5 });
    expect(run.face.enhancer).toMatchObject({ model: 'codeformer', blend: 60 });
    expect(run.encoder).toEqual({ encoder: 'libx264', quality: 60, preset: 'fast', scale: 1.5 });
  });

  it('names every FaceFusion option spotfuse does not support yet in one error, and ignores its housekeeping', () => {
    const refuse = () =>
      parseRun([
        ...IO,
        ...[
          '--voice-extractor-model',
          'kim_vocal_2',
          '--face-selector-gender',
          'female',
          '--face-mask-regions',
          'skin',
        ],
        ...['--face-tracker-score', '0.5', '--voice-extractor-model', 'kim_vocal_1'],
      ]);
    expect(refuse).toThrow(UserError);
    expect(refuse).toThrow(
      "spotfuse does not support FaceFusion's --voice-extractor-model, --face-tracker-score yet",
    );
    const run = parseRun([...IO, '--temp-path', '/tmp/ff', '--jobs-path=/tmp/jobs', '--log-level', 'debug']);
    expect(run.said).toEqual([
      "ignoring FaceFusion's --temp-path (spotfuse keeps its work under --state-dir), --jobs-path (spotfuse keeps its jobs under --state-dir), --log-level (use --quiet or --verbose)",
    ]);
    expect(run.flags.target).toBe('video.mp4');
    // Neither spotfuse's nor FaceFusion's: the parser's own error.
    expect(() => parseRun([...IO, '--no-such-option'])).toThrow(/unknown option '--no-such-option'/);
  });

  it('takes --trim-frame-start/--trim-frame-end as FaceFusion does, from the command line or the .ini', () => {
    const run = parseRun([...IO, '--trim-frame-start', '10', '--trim-frame-end=25']);
    expect([run.flags.trimFrameStart, run.flags.trimFrameEnd]).toEqual([10, 25]);
    // FaceFusion's `type = int`: a negative start is a value (clamped to 0 against the video later).
    expect(parseRun([...IO, '--trim-frame-start', '-3']).flags.trimFrameStart).toBe(-3);
    expect(() => parseRun([...IO, '--trim-frame-end', '2.5'])).toThrow(/must be a whole number/);
    const ini = join(dir(), 'trim.ini');
    writeFileSync(ini, ['[frame_extraction]', 'trim_frame_start = 5', 'trim_frame_end ='].join('\n'));
    const fromIni = parseRun([...IO, '--config-path', ini]);
    expect([fromIni.flags.trimFrameStart, fromIni.flags.trimFrameEnd]).toEqual([5, undefined]);
  });

  it('takes --output-video-fps as FaceFusion does, from the command line or the .ini, in its range 1-60', () => {
    // Into the job's encoder, which run and submit (the API's encoder.fps) both send.
    expect(parseRun([...IO, '--output-video-fps', '24']).encoder).toMatchObject({ fps: 24 });
    expect(parseRun(IO).encoder).not.toHaveProperty('fps');
    expect(parseRun([...IO, '--output-video-fps=29.97']).flags.outputVideoFps).toBe(29.97);
    for (const bad of ['0', '60.5', 'abc', ''])
      expect(() => parseRun([...IO, '--output-video-fps', bad])).toThrow(/must be a number from 1 to 60/);
    const ini = join(dir(), 'fps.ini');
    writeFileSync(ini, ['[output_creation]', 'output_video_fps = 15'].join('\n'));
    const fromIni = parseRun([...IO, '--config-path', ini]);
    expect(fromIni.flags.outputVideoFps).toBe(15);
    expect(fromIni.said).toEqual([]);
  });

  it('takes --face-debugger-items as a supported option, from the command line and the .ini', () => {
    const run = parseRun([
      ...IO,
      ...['--processors', 'face_debugger', '--face-debugger-items', 'bounding-box', 'face-landmark-68'],
    ]);
    expect(run.flags.processors).toEqual(['face_debugger']);
    expect(run.face.debugger).toEqual({ items: ['bounding-box', 'face-landmark-68'] });
    expect(run.said).toEqual([]);
    const ini = join(dir(), 'debugger.ini');
    writeFileSync(
      ini,
      '[processors]\nprocessors = face_debugger\nface_debugger_items = face-mask face-landmark-5\n',
    );
    expect(parseRun([...IO, '--config-path', ini]).face.debugger).toEqual({
      items: ['face-mask', 'face-landmark-5'],
    });
    expect(parseRun(IO).face.debugger).toEqual({ items: ['face-landmark-5/68', 'face-mask'] });
  });

  it('refuses a padding of more than four sides in one line', () => {
    expect(() => parseRun([...IO, '--face-mask-padding', '1', '2', '3', '4', '5'])).toThrow(
      '--face-mask-padding takes 1 to 4 percentages (top right bottom left)',
    );
  });
});

describe("FaceFusion's facefusion.ini (--config-path)", () => {
  it.skipIf(!existsSync(SHIPPED_INI))(
    "knows the sections and keys of FaceFusion 3.8.1's own facefusion.ini",
    () => {
      const shipped = parseIni(readFileSync(SHIPPED_INI, 'utf8'));
      if (typeof shipped === 'string') throw new Error(shipped);
      expect(Object.fromEntries(Object.entries(shipped).map(([s, keys]) => [s, Object.keys(keys)]))).toEqual(
        FACEFUSION_CONFIG,
      );
      // Every key blank, as shipped: it sets nothing.
      expect(iniArguments(shipped)).toEqual([]);
    },
  );

  it('reads it as Python ConfigParser does: sections, = or :, comments, continuation lines, blank values', () => {
    const ini = parseIni(
      [
        '# comment',
        '[processors]',
        'processors = face_swapper',
        '  face_enhancer',
        'face_swapper_model: inswapper_128',
        '; another comment',
        'FACE_ENHANCER_BLEND = 60',
        'face_enhancer_model =',
        '[face_detector]',
        'processors = ignored_here',
      ].join('\n'),
    );
    expect(ini).toEqual({
      processors: {
        processors: 'face_swapper\nface_enhancer',
        face_swapper_model: 'inswapper_128',
        face_enhancer_blend: '60',
        face_enhancer_model: '',
      },
      face_detector: { processors: 'ignored_here' },
    });
    if (typeof ini === 'string') throw new Error(ini);
    // A key counts only in its own section, and only when not blank.
    expect(iniArguments(ini)).toEqual([
      ...['--processors', 'face_swapper', 'face_enhancer'],
      ...['--face-enhancer-blend', '60', '--face-swapper-model', 'inswapper_128'],
    ]);
    expect(parseIni('key = value')).toBe('line 1 comes before any [section]');
    expect(parseIni('[a]\nnot a pair')).toBe('line 2 is neither a [section] nor key = value');
    expect(parseIni('[a]\nk = 1\n[b]\n[a]')).toBe('line 4: section [a] appears twice');
    expect(parseIni('[a]\nk = 1\nK = 2')).toBe('line 3: k appears twice in its section');
  });

  it('takes its options as defaults: the command line wins, lists included', () => {
    const ini = join(dir(), 'facefusion.ini');
    writeFileSync(
      ini,
      [
        '[paths]',
        'source_paths = ini-face.jpg',
        'target_path = ini-video.mp4',
        'output_path = ini-out.mp4',
        '[face_masker]',
        'face_mask_types = box occlusion',
        'face_mask_padding = 5',
        '[processors]',
        'processors = face_swapper face_enhancer',
        'face_enhancer_blend = 40',
        '[execution]',
        'execution_providers = cuda',
        'execution_thread_count = 2',
        '[misc]',
        'log_level = debug',
      ].join('\n'),
    );
    const fromIni = parseRun(['--config-path', ini]);
    expect(fromIni.flags.source).toEqual(['ini-face.jpg']);
    expect([fromIni.flags.target, fromIni.flags.output]).toEqual(['ini-video.mp4', 'ini-out.mp4']);
    expect(fromIni.flags.processors).toEqual(['face_swapper', 'face_enhancer']);
    expect(fromIni.face.mask.types).toEqual(['box', 'occlusion']);
    expect(fromIni.face.mask.padding).toEqual([5, 5, 5, 5]);
    expect(fromIni.face.enhancer).toMatchObject({ blend: 40 });
    expect(fromIni.execution).toEqual({ provider: 'cuda', threads: 2 });
    expect(fromIni.said).toEqual(["ignoring FaceFusion's --log-level (use --quiet or --verbose)"]);

    const both = parseRun([
      `--config-path=${ini}`,
      ...['-s', 'a.jpg', 'b.jpg', '--processors', 'face_enhancer', '--face-mask-types', 'box'],
      ...['--execution-provider', 'cpu'],
    ]);
    expect(both.flags.source).toEqual(['a.jpg', 'b.jpg']);
    expect(both.flags.processors).toEqual(['face_enhancer']);
    expect(both.face.mask.types).toEqual(['box']);
    expect(both.execution.provider).toBe('cpu');
    expect(both.flags.target).toBe('ini-video.mp4');
  });

  it('names unsupported options set in the .ini, and a missing or broken file, in one line', () => {
    const ini = join(dir(), 'unsupported.ini');
    writeFileSync(ini, '[face_tracker]\nface_tracker_score = 0.5\n');
    expect(() => parseRun([...IO, '--config-path', ini])).toThrow(
      `spotfuse does not support FaceFusion's --face-tracker-score yet (command line or ${ini})`,
    );
    expect(() => parseRun([...IO, '--config-path', join(dir(), 'none.ini')])).toThrow(
      `cannot read --config-path ${join(dir(), 'none.ini')}`,
    );
    writeFileSync(ini, 'face_selector_race = asian\n');
    expect(() => parseRun([...IO, '--config-path', ini])).toThrow(
      `--config-path ${ini}: line 1 comes before any [section]`,
    );
  });
});

describe('translateCommandLine', () => {
  const known = new Set(['--source', '--target', '--output', '--processors', '--face-mask-types']);

  it("spells FaceFusion's names as spotfuse's and drops the options of the .ini the command line gives", () => {
    expect(
      translateCommandLine(['--source-paths=a.jpg', '--processors', 'face_enhancer'], known, [
        '--processors',
        'face_swapper',
        'face_debugger',
        '--target-path',
        'v.mp4',
        '-s',
        'x.jpg',
      ]),
    ).toEqual({
      args: ['--target', 'v.mp4', '--source=a.jpg', '--processors', 'face_enhancer'],
      ignored: [],
      unsupported: [],
    });
  });

  it('drops the values of ignored and unsupported options, keeping negative numbers as values', () => {
    expect(
      translateCommandLine(
        ['--face-editor-head-pitch', '-0.5', '--temp-path', '/t', '-t', 'v.mp4', '--unknown', 'x'],
        known,
      ),
    ).toEqual({
      args: ['-t', 'v.mp4', '--unknown', 'x'],
      ignored: ['--temp-path'],
      unsupported: ['--face-editor-head-pitch'],
    });
  });
});
