import { expect, it } from 'vitest';
import { audioEncodeArgs, audioEncoderProblem, audioQualityArgs } from '../../src/media/audioOptions.js';

it("maps --output-audio-quality to each encoder's setting as FaceFusion's set_audio_quality does", () => {
  // numpy.interp(80, [0, 100], [0.1, 2.0]) = 1.62 → 1.6; [9, 0] → 1.8 → 2; [64, 256] → 217.6 → 218; [-1, 10] → 7.8.
  expect(audioQualityArgs('aac', 80, 0)).toEqual(['-q:a:0', '1.6']);
  expect(audioQualityArgs('libmp3lame', 80, 1)).toEqual(['-q:a:1', '2']);
  expect(audioQualityArgs('libopus', 80, 0)).toEqual(['-b:a:0', '218k']);
  expect(audioQualityArgs('libvorbis', 80, 0)).toEqual(['-q:a:0', '7.8']);
  expect(audioQualityArgs('aac', 0, 0)).toEqual(['-q:a:0', '0.1']);
  expect(audioQualityArgs('libopus', 100, 0)).toEqual(['-b:a:0', '256k']);
  expect(audioQualityArgs('flac', 80, 0)).toEqual([]);
});

it('re-encodes every audio stream, with the container default when no encoder is named, and sets the volume', () => {
  expect(audioEncodeArgs({ encoder: 'libopus', volume: 50 }, 2, 'aac')).toEqual([
    ...['-c:a:0', 'libopus', '-b:a:0', '218k', '-c:a:1', 'libopus', '-b:a:1', '218k'],
    ...['-filter:a', 'volume=0.5'],
  ]);
  expect(audioEncodeArgs({ quality: 0 }, 1, 'aac')).toEqual(['-c:a:0', 'aac', '-q:a:0', '0.1']);
});

it('says in one line when the container cannot hold the audio asked for', () => {
  const mp4 = new Set(['aac', 'mp3']);
  expect(audioEncoderProblem({ encoder: 'flac' }, '.mp4', mp4)).toBe(
    '.mp4 cannot hold flac audio (--output-audio-encoder flac): use aac, libmp3lame, or another container',
  );
  expect(audioEncoderProblem({ encoder: 'flac' }, '.mkv', null)).toBeUndefined();
  expect(audioEncoderProblem({ volume: 20 }, '.mp4', mp4)).toBeUndefined();
});
