import { Command } from 'commander';
import { describe, expect, it } from 'vitest';
import { addFaceOptions, type FaceFlags, faceOptionsFromFlags } from '../../src/cli/faceFlags.js';
import { FaceOptionsPatch } from '../../src/protocol/wire.js';

function parse(args: string[]) {
  const command = addFaceOptions(new Command().exitOverride().configureOutput({ writeErr: () => {} }));
  command.parse(args, { from: 'user' });
  return faceOptionsFromFlags(command.opts<FaceFlags>());
}

describe('mask and selector filter flags (FaceFusion names)', () => {
  it('defaults as FaceFusion: box only, every area and region, bisenet_resnet_34, no filter', () => {
    const face = parse([]);
    expect(face.mask).toMatchObject({
      types: ['box'],
      areas: ['upper-face', 'lower-face', 'mouth'],
      parser: 'bisenet_resnet_34',
      occluder: 'xseg_1',
    });
    expect(face.mask.regions).toHaveLength(10);
    expect(face.selector).not.toHaveProperty('gender');
    expect(face.selector).not.toHaveProperty('ageStart');
  });

  it('reads the area and region masks, the parser and the filters', () => {
    const face = parse(
      [
        '--face-mask-types',
        'box,area region',
        '--face-mask-areas',
        'mouth',
        '--face-mask-regions',
        'skin nose',
      ]
        .concat(['--face-parser-model', 'bisenet_resnet_18', '--face-selector-gender', 'female'])
        .concat(['--face-occluder-model', 'many'])
        .concat([
          '--face-selector-race',
          'auto',
          '--face-selector-age-start',
          '20',
          '--face-selector-age-end',
          '40',
        ]),
    );
    expect(face.mask).toMatchObject({
      types: ['box', 'area', 'region'],
      areas: ['mouth'],
      regions: ['skin', 'nose'],
      parser: 'bisenet_resnet_18',
      occluder: 'many',
    });
    expect(face.selector).toMatchObject({ gender: 'female', race: 'auto', ageStart: 20, ageEnd: 40 });
    expect(FaceOptionsPatch.safeParse({ mask: face.mask, selector: face.selector }).success).toBe(true);
    // FaceFusion's own form: one value per argument.
    const spaced = parse([
      '--face-mask-types',
      'box',
      'region',
      '--face-mask-regions',
      'skin',
      'nose',
      'skin',
    ]);
    expect(spaced.mask).toMatchObject({ types: ['box', 'region'], regions: ['skin', 'nose'] });
  });

  it('refuses names FaceFusion does not have, and ages past 100', () => {
    expect(() => parse(['--face-mask-types', 'box,hair'])).toThrow(/box, occlusion, area, region/);
    expect(() => parse(['--face-mask-regions', 'hair'])).toThrow(/skin/);
    expect(() => parse(['--face-selector-race', 'martian'])).toThrow();
    expect(() => parse(['--face-selector-age-end', '101'])).toThrow(/0 to 100/);
    expect(FaceOptionsPatch.safeParse({ mask: { areas: ['ears'] } }).success).toBe(false);
    expect(FaceOptionsPatch.safeParse({ selector: { gender: 'other' } }).success).toBe(false);
  });
});
