import { describe, expect, it } from 'vitest';
import { ffmpegTurnsUpright, uprightFilter, withExifOrientation } from '../../src/media/exifOrientation.js';

describe('EXIF orientation', () => {
  it('writes the Orientation tag right after the start-of-image marker', () => {
    const jpeg = Buffer.from([0xff, 0xd8, 0xff, 0xd9]);
    const tagged = withExifOrientation(jpeg, 6);
    expect([...tagged.subarray(0, 4)]).toEqual([0xff, 0xd8, 0xff, 0xe1]);
    expect(tagged.subarray(6, 12).toString('latin1')).toBe('Exif\0\0');
    expect(tagged.readUInt16BE(4)).toBe(tagged.length - 4 - 2);
    expect([...tagged.subarray(-2)]).toEqual([0xff, 0xd9]);
    expect(() => withExifOrientation(Buffer.from('GIF89a'), 6)).toThrow(/not a JPEG/);
  });

  it('with -noautorotate, this ffmpeg leaves every orientation as stored, so spotfuse turns it', async () => {
    // Verified, not assumed: Debian's ffmpeg 5.1 turns JPEGs itself without the option, the bundled
    // 2018 build never does; with it, both leave the picture as stored.
    for (const orientation of [2, 3, 4, 5, 6, 7, 8]) {
      expect(await ffmpegTurnsUpright(orientation)).toBe(false);
    }
    expect(await uprightFilter(6)).toBe('transpose=1');
    expect(await uprightFilter(1)).toBeUndefined();
  });

  it('tells apart an ffmpeg that turns the picture itself from one that does not', async () => {
    // Without the option a given build either turns a 90° orientation fully or not at all: either
    // answer is fine here, what matters is that it is one of the two and no error.
    expect(typeof (await ffmpegTurnsUpright(6, []))).toBe('boolean');
  });
});
