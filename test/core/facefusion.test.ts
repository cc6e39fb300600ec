import { describe, expect, it } from 'vitest';
import {
  facefusionArgsProblem,
  frameRateProblem,
  parseFacefusionProcessors,
  splitArguments,
} from '../../src/core/facefusion.js';
import { chooseChunkFrames } from '../../src/core/planner.js';

describe('FaceFusion options passed through', () => {
  it('splits a string of options as a shell does', () => {
    expect(splitArguments('')).toEqual([]);
    expect(splitArguments('  --face-swapper-model   inswapper_128 ')).toEqual([
      '--face-swapper-model',
      'inswapper_128',
    ]);
    expect(splitArguments(`--face-mask-types box occlusion --x 'a b' "c \\"d\\"" e\\ f ''`)).toEqual([
      '--face-mask-types',
      'box',
      'occlusion',
      '--x',
      'a b',
      'c "d"',
      'e f',
      '',
    ]);
    expect(splitArguments(`--x 'open`)).toBe("--facefusion-args has an unclosed '");
  });

  it('refuses the options spotfuse sets on every run, long, short, with = and abbreviated', () => {
    expect(
      facefusionArgsProblem(['--face-swapper-model', 'inswapper_128', '--execution-providers', 'cuda']),
    ).toBe(undefined);
    expect(facefusionArgsProblem(['--output-video-scale', '2'])).toBe(
      '--facefusion-args may not set --output-video-scale: use --output-video-scale of spotfuse',
    );
    expect(facefusionArgsProblem(['--trim-frame-start', '5'])).toBe(
      '--facefusion-args may not set --trim-frame-start: each task sets its own frame range',
    );
    expect(facefusionArgsProblem(['-o', 'x.mp4'])).toMatch(
      /may not set -o: the output is given with --output/,
    );
    expect(facefusionArgsProblem(['--temp-path=/tmp/x'])).toMatch(/--temp-path/);
    expect(facefusionArgsProblem(['--trim-frame-e', '5'])).toMatch(/--trim-frame-end/);
    expect(facefusionArgsProblem(['--output-audio-volume', '50'])).toMatch(
      /use --output-audio-volume of spotfuse/,
    );
  });

  it("takes FaceFusion's processor names without knowing them", () => {
    expect(parseFacefusionProcessors('face_debugger, age_modifier')).toEqual([
      'face_debugger',
      'age_modifier',
    ]);
    expect(parseFacefusionProcessors('')).toBe('no processor given (--processors)');
    expect(parseFacefusionProcessors('face_swapper,../x')).toBe('not a FaceFusion processor name: "../x"');
  });
});

describe('FaceFusion jobs', () => {
  it('refuse a variable frame rate, allowing one tick of rounding', () => {
    expect(frameRateProblem([0, 512, 1024, 1536])).toBe(undefined);
    expect(frameRateProblem([0, 3003, 6007, 9009])).toBe(undefined);
    expect(frameRateProblem([0, 512, 1024, 2048])).toMatch(/constant frame rate, and frame 3/);
  });

  it('are cut into tasks of at most a few hundred frames', () => {
    const sizing = { frameCount: 9000, fps: 30, msPerFrame: 0, parallelism: 2, checkpointFrames: 100 };
    expect(chooseChunkFrames({ ...sizing, maxChunkFrames: 300 })).toBe(300);
    expect(chooseChunkFrames({ ...sizing, maxChunkFrames: 300, parallelism: 60 })).toBe(150);
    expect(chooseChunkFrames({ ...sizing, maxChunkFrames: 300, chunkFrames: 1000 })).toBe(1000);
    expect(chooseChunkFrames(sizing)).toBe(4500);
  });
});
