import { describe, expect, it } from 'vitest';
import { containerProblem, segmentContainer } from '../../src/media/containers.js';
import { outputFormatProblem } from '../../src/media/merge.js';

describe('containers', () => {
  it('writes segments in a container that holds what the encoder makes', () => {
    for (const encoder of ['libx264', 'libx265', 'h264_nvenc', 'hevc_nvenc', 'libaom-av1', 'libvpx-vp9']) {
      expect(segmentContainer(encoder)).toEqual({ muxer: 'mp4', extension: '.mp4' });
    }
    expect(segmentContainer('prores_ks')).toEqual({ muxer: 'mov', extension: '.mov' });
    expect(segmentContainer('prores')).toEqual({ muxer: 'mov', extension: '.mov' });
    for (const encoder of ['ffv1', 'libvpx', 'utvideo', 'some_new_encoder']) {
      expect(segmentContainer(encoder)).toEqual({ muxer: 'matroska', extension: '.mkv' });
    }
  });

  it('refuses an output that cannot hold the codec, naming those that can', () => {
    expect(outputFormatProblem('master.mp4', 'ffv1')).toBe(
      'a .mp4 output cannot hold FFV1 video from ffv1: use .mov or .mkv',
    );
    expect(outputFormatProblem('master.m4v', 'prores_ks')).toBe(
      'a .m4v output cannot hold ProRes video from prores_ks: use .mov or .mkv',
    );
    expect(outputFormatProblem('clip.webm', 'prores_ks')).toMatch(/^a \.webm output needs a VP8, VP9 or AV1/);
    expect(outputFormatProblem('clip.mov', 'libvpx-vp9')).toBe(
      'a .mov output cannot hold VP9 video from libvpx-vp9: use .mp4 or .m4v or .mkv or .webm',
    );
    expect(outputFormatProblem('clip.MP4', 'libvpx')).toMatch(/cannot hold VP8/);
  });

  it('takes every pair that works', () => {
    const works: [string, string][] = [
      ['.mkv', 'ffv1'],
      ['.mov', 'ffv1'],
      ['.mov', 'prores_ks'],
      ['.mkv', 'prores_ks'],
      ['.mp4', 'libx264'],
      ['.mov', 'libx265'],
      ['.webm', 'libvpx'],
      ['.webm', 'libaom-av1'],
      ['.mp4', 'libvpx-vp9'],
      // Unknown to spotfuse: ffmpeg decides, except that WebM takes only VP8, VP9 and AV1.
      ['.mp4', 'mjpeg'],
    ];
    for (const [extension, encoder] of works) expect(containerProblem(extension, encoder)).toBeUndefined();
    expect(containerProblem('.webm', 'mjpeg')).toMatch(/needs a VP8, VP9 or AV1 encoder/);
  });
});
