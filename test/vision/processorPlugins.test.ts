import { Command } from 'commander';
import { describe, expect, it } from 'vitest';
import { processorOptions, processorOptionsFromFlags } from '../../src/cli/faceFlags.js';
import { addJobOptions } from '../../src/cli/jobFlags.js';
import { FaceOptionsPatch, faceOptionsPatch } from '../../src/protocol/wire.js';
import { optionReaders } from '../../src/vision/faceOptionGroups.js';
import { DEFAULT_FACE_OPTIONS } from '../../src/vision/faceOptions.js';
import { defineProcessor } from '../../src/vision/processors/descriptor.js';
import { PROCESSORS } from '../../src/vision/processors/list.js';
import { chainCostMsPerFrame, descriptorsOf } from '../../src/vision/processors/registry.js';

/** A processor that exists only in this test: one option group, no models. */
interface TintOptions {
  strength: number;
  model: string;
}
const tint = defineProcessor<'tint', TintOptions>({
  name: 'tint',
  analysesFaces: false,
  needsSourceFace: false,
  costMsPerFrame: 7,
  options: {
    key: 'tint',
    defaults: { strength: 0.25, model: 'sepia' },
    fields: {
      strength: { flag: '--tint-strength <s>', description: 'how much to tint, 0 to 1', kind: 'unit' },
      model: { flag: '--tint-model <name>', description: 'tint palette', kind: 'model' },
    },
  },
  create: async () => ({
    name: 'tint',
    load: async () => {},
    process: (frame) => frame,
    dispose: async () => {},
  }),
});
const withTint = [...PROCESSORS, tint];

function commandWith(descriptors: typeof withTint): Command {
  const command = new Command('run').exitOverride().configureOutput({ writeErr: () => {} });
  for (const option of processorOptions(descriptors)) command.addOption(option);
  return command;
}

describe('a processor registered by its descriptor alone', () => {
  it('gets its CLI flags, with its defaults and its value checks', () => {
    const command = commandWith(withTint);
    const help = command.helpInformation();
    expect(help).toMatch(/--tint-strength <s>\s+how much to tint, 0 to 1 \(default: 0\.25\)/);
    expect(help).toMatch(/--tint-model <name>\s+tint palette \(default: "sepia"\)/);
    command.parse(['--tint-strength', '0.75'], { from: 'user' });
    expect(processorOptionsFromFlags(command.opts(), withTint).tint).toEqual({
      strength: 0.75,
      model: 'sepia',
    });
    expect(() => commandWith(withTint).parse(['--tint-strength', '2'], { from: 'user' })).toThrow(
      /must be between 0 and 1/,
    );
    expect(commandWith([...PROCESSORS]).helpInformation()).not.toContain('--tint');
  });

  it('gets its API fields, checked as strictly as the others', () => {
    const schema = faceOptionsPatch(withTint);
    expect(schema.parse({ tint: { strength: 0.5 } })).toEqual({ tint: { strength: 0.5 } });
    expect(schema.safeParse({ tint: { strength: 2 } }).success).toBe(false);
    expect(schema.safeParse({ tint: { strength: 0.5, hue: 3 } }).success).toBe(false);
    expect(schema.safeParse({ tint: { model: '' } }).success).toBe(false);
    // Unregistered, the same group is refused.
    expect(FaceOptionsPatch.safeParse({ tint: { strength: 0.5 } }).success).toBe(false);
  });

  it('gets an option group read by itself only', () => {
    const readers = optionReaders(withTint);
    expect(readers.tint).toEqual(['tint']);
    expect(readers.selector).toEqual(['face_swapper', 'face_enhancer', 'face_debugger']);
  });
});

describe('the registered processors', () => {
  it("keep FaceFusion's flags and defaults", () => {
    const command = addJobOptions(new Command('run'));
    const defaults = Object.fromEntries(command.options.map((o) => [o.long, o.defaultValue]));
    expect(defaults).toMatchObject({
      '--face-swapper-model': 'hyperswap_1a_256',
      '--face-swapper-pixel-boost': undefined,
      '--face-swapper-weight': 0.5,
      '--face-enhancer-model': 'gfpgan_1.4',
      '--face-enhancer-blend': 80,
      '--face-enhancer-weight': 0.5,
      '--frame-enhancer-model': 'real_esrgan_x2',
      '--frame-enhancer-blend': 80,
      '--face-detector-model': 'yolo_face',
      '--face-mask-blur': 0.3,
      '--face-debugger-items': ['face-landmark-5/68', 'face-mask'],
    });
    expect(Object.keys(defaults)).toContain('--face-swapper-pixel-boost');
    expect(DEFAULT_FACE_OPTIONS).toMatchObject({
      swapper: { model: 'hyperswap_1a_256', weight: 0.5 },
      enhancer: { model: 'gfpgan_1.4', blend: 80, weight: 0.5 },
      frameEnhancer: { model: 'real_esrgan_x2', blend: 80 },
      debugger: { items: ['face-landmark-5/68', 'face-mask'] },
    });
    expect(Object.keys(DEFAULT_FACE_OPTIONS)).toEqual([
      'detector',
      'landmarker',
      'landmarkerScore',
      'selector',
      'mask',
      'swapper',
      'enhancer',
      'frameEnhancer',
      'debugger',
    ]);
  });

  it("take a list option as FaceFusion's nargs='+' does: several words or commas, replacing the default", () => {
    const parse = (args: string[]) =>
      processorOptionsFromFlags(commandWith(withTint).parse(args, { from: 'user' }).opts()).debugger;
    expect(parse([])).toEqual({ items: ['face-landmark-5/68', 'face-mask'] });
    expect(parse(['--face-debugger-items', 'bounding-box', 'face-landmark-68'])).toEqual({
      items: ['bounding-box', 'face-landmark-68'],
    });
    expect(parse(['--face-debugger-items', 'bounding-box,face-mask'])).toEqual({
      items: ['bounding-box', 'face-mask'],
    });
    const schema = faceOptionsPatch(PROCESSORS);
    expect(schema.parse({ debugger: { items: ['bounding-box'] } })).toEqual({
      debugger: { items: ['bounding-box'] },
    });
    expect(schema.safeParse({ debugger: { items: [] } }).success).toBe(false);
    expect(schema.safeParse({ debugger: { items: 'bounding-box' } }).success).toBe(false);
  });

  it('size tasks by the cost their descriptors give', () => {
    expect(chainCostMsPerFrame(['face_swapper'])).toBe(40);
    expect(chainCostMsPerFrame(['face_swapper', 'face_enhancer', 'frame_enhancer'])).toBe(350);
    expect(() => chainCostMsPerFrame(['face_swaper'])).toThrow(/unknown processor "face_swaper"/);
  });

  it('are created by their descriptors without loading any model', async () => {
    const [descriptor] = descriptorsOf(['passthrough']);
    const processor = await descriptor.create();
    expect(processor.name).toBe('passthrough');
    for (const p of PROCESSORS) expect(PROCESSORS.filter((q) => q.name === p.name)).toHaveLength(1);
  });
});
