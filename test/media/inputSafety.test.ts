import { execFileSync } from 'node:child_process';
import { createReadStream } from 'node:fs';
import { copyFile, mkdir, open, readFile, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MediaError } from '../../src/media/errors.js';
import { decodeFrames } from '../../src/media/frameDecoder.js';
import { confinedInputArgs, inputProtocols, refusedDemuxer } from '../../src/media/inputSafety.js';
import { mergeSegments } from '../../src/media/merge.js';
import { probeImage, probeVideo } from '../../src/media/probe.js';
import { cfrWithAudio, ffmpeg, stillImage } from '../fixtures/videos.js';
import { useTempDir } from '../helpers/tempDir.js';

/**
 * A tenant's "video" that names other files or URLs (an HLS playlist, a concat script, an image
 * sequence) must never make ffmpeg or ffprobe open them: not at the probe, not in a worker's decode,
 * not in the merge's audio mux. A loopback HTTP server records every request; a file outside the
 * upload is a FIFO, which shows whether anything ever opened it for reading.
 */

const dir = useTempDir();
let server: Server;
let base: string;
const requests: string[] = [];
let segment: Buffer;

beforeAll(async () => {
  const video = await cfrWithAudio(dir());
  const segmentPath = join(dir(), 'segment.ts');
  await ffmpeg(['-i', video, '-map', '0', '-c', 'copy', '-f', 'mpegts', segmentPath]);
  segment = await readFile(segmentPath);
  server = createServer((req, res) => {
    requests.push(req.url ?? '');
    if (req.url?.startsWith('/segment')) res.writeHead(200, { 'content-type': 'video/mp2t' }).end(segment);
    else if (req.url?.startsWith('/served/'))
      // As an object store serves what a tenant uploaded with this content type.
      res
        .writeHead(200, { 'content-type': 'application/vnd.apple.mpegurl' })
        .end(servedFiles.get(req.url.split('?')[0]) ?? '');
    else res.writeHead(404).end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  await new Promise((resolve) => server.close(resolve));
});

const servedFiles = new Map<string, string>();

const playlist = (...segments: string[]) =>
  ['#EXTM3U', '#EXT-X-VERSION:3', '#EXT-X-TARGETDURATION:3', '#EXT-X-MEDIA-SEQUENCE:0']
    .concat(
      segments.flatMap((s) => ['#EXTINF:3.0,', s]),
      ['#EXT-X-ENDLIST', ''],
    )
    .join('\n');

/**
 * A FIFO outside the upload folder, standing for any file the server can read. Opening it for reading
 * blocks until our writer opens it too, so anything that opens it is counted in `opens` before it can
 * read a byte, let alone finish. Each reader gets the segment's bytes.
 */
async function outsideFile(name: string) {
  const folder = join(dir(), 'outside');
  await mkdir(folder, { recursive: true });
  const path = join(folder, name);
  execFileSync('mkfifo', [path]);
  let released = false;
  let opens = 0;
  const serving = (async () => {
    while (!released) {
      const handle = await open(path, 'w');
      if (!released) {
        opens++;
        await handle.writeFile(segment).catch(() => {});
      }
      await handle.close();
    }
  })();
  return {
    path,
    opens: () => opens,
    /** Stops serving: lets the pending writer through with a reader of our own. */
    async release() {
      released = true;
      const drain = createReadStream(path);
      drain.resume();
      await new Promise<void>((resolve) => drain.on('close', () => resolve()));
      await serving;
    },
  };
}

async function expectRefused(work: Promise<unknown>, pattern: RegExp) {
  const error = await work.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(MediaError);
  expect((error as Error).message).toMatch(pattern);
  expect((error as Error).message).not.toContain('\n');
}

describe('input confinement', () => {
  it('allows exactly the protocol an input location needs', () => {
    expect(inputProtocols('/data/in.mp4')).toBe('file');
    expect(inputProtocols('file:///data/in.mp4')).toBe('file');
    expect(inputProtocols('http://minio:9000/b/k?X-Amz-Signature=1')).toBe('http,tcp');
    expect(inputProtocols('https://bucket.s3.amazonaws.com/k')).toBe('https,tls,tcp');
    expect(() => inputProtocols('ftp://host/in.mp4')).toThrow(MediaError);
    expect(confinedInputArgs('/in.mp4', 'video')).toEqual(
      expect.arrayContaining(['-protocol_whitelist', 'file', '-format_whitelist']),
    );
    expect(refusedDemuxer("[hls,applehttp @ 0x42ce7c40] Format not on whitelist 'mov'\n")).toBe(
      'hls,applehttp',
    );
    expect(refusedDemuxer('[hls @ 0x562a19201540] Format not on whitelist')).toBe('hls');
  });

  it('refuses an HLS playlist at the probe without fetching its http segments', async () => {
    const path = join(dir(), 'playlist.m3u8');
    await writeFile(path, playlist(`${base}/segment-0.ts`, `${base}/segment-1.ts`));
    requests.length = 0;
    await expectRefused(
      probeVideo(path),
      /^not a video: .*playlist\.m3u8 \(an HLS playlist; .*self-contained/,
    );
    // The same playlist under a video's name.
    const disguised = join(dir(), 'playlist-as.mp4');
    await copyFile(path, disguised);
    await expectRefused(probeVideo(disguised), /^(not a video:|cannot read video) .*playlist-as\.mp4/);
    await expectRefused(probeImage(path), /^not an image: /);
    expect(requests).toEqual([]);
  });

  it('refuses a playlist served over http without fetching the segments it names', async () => {
    servedFiles.set('/served/list.m3u8', playlist(`${base}/segment-0.ts`));
    requests.length = 0;
    await expectRefused(
      probeVideo(`${base}/served/list.m3u8?X-Amz-Signature=secret`),
      /^not a video: http:\/\/127\.0\.0\.1:\d+\/served\/list\.m3u8 \(an HLS playlist;/,
    );
    expect(requests.length).toBeGreaterThan(0);
    expect(requests.every((url) => url.startsWith('/served/list.m3u8'))).toBe(true);
  });

  it('never opens a file:// segment or a concat entry outside the upload', async () => {
    const secret = await outsideFile('secret.ts');
    try {
      const path = join(dir(), 'local.m3u8');
      await writeFile(path, playlist(pathToFileURL(secret.path).href));
      await expectRefused(probeVideo(path), /\(an HLS playlist;/);
      const concat = join(dir(), 'list.ffconcat');
      await writeFile(concat, `ffconcat version 1.0\nfile '${secret.path}'\n`);
      await expectRefused(probeVideo(concat), /^not a video: .*list\.ffconcat \(a concat script;/);
      await expectRefused(probeVideo(pathToFileURL(concat).href), /\(a concat script;/);
      expect(secret.opens()).toBe(0);
    } finally {
      await secret.release();
    }
  });

  it('refuses image sequences and still images with one clear line', async () => {
    await mkdir(join(dir(), 'frames'), { recursive: true });
    for (const n of ['000', '001', '002'])
      await copyFile(await stillImage(dir()), join(dir(), `frames/f${n}.png`));
    const pattern = join(dir(), 'frames/f%03d.png');
    await expectRefused(probeVideo(pattern), /^not a video: .*f%03d\.png \(an image sequence; /);
    await copyFile(await stillImage(dir()), pattern);
    await expectRefused(probeVideo(pattern), /^not a video: .*f%03d\.png \(an image sequence; /);
    await expectRefused(probeVideo(await stillImage(dir())), /\(a still image\)$/);
  });

  it('refuses an SVG as a source face: its renderer could load what it names', async () => {
    const svg = join(dir(), 'face.svg');
    await writeFile(
      svg,
      '<svg xmlns="http://www.w3.org/2000/svg" width="64" height="64"><rect width="64" height="64"/></svg>',
    );
    await expectRefused(probeImage(svg), /^not an image: .*face\.svg$/);
    expect(await probeImage(await stillImage(dir()))).toMatchObject({ width: 160, height: 120 });
  });

  it("refuses a playlist swapped in after the probe: the worker's decode and the merge's audio mux", async () => {
    const video = await cfrWithAudio(dir());
    const probe = await probeVideo(video);
    const secret = await outsideFile('swapped.ts');
    try {
      const swapped = join(dir(), 'swapped.mp4');
      await writeFile(swapped, playlist(`${base}/segment-0.ts`, pathToFileURL(secret.path).href));
      requests.length = 0;
      const decode = async () => {
        for await (const _ of decodeFrames({ input: swapped, probe, startFrame: 0, endFrame: 10 })) {
          // Any frame at all would be the playlist's.
        }
      };
      await expectRefused(decode(), /^cannot decode frames 0–10 of /);
      const frames = join(dir(), 'seg0.mp4');
      await ffmpeg(['-i', video, '-map', '0:v', '-c', 'copy', '-f', 'mp4', frames]);
      await expectRefused(
        mergeSegments({
          segments: [{ path: frames, durationMicros: 3_000_000 }],
          source: swapped,
          probe,
          outputPath: join(dir(), 'merged.mp4'),
        }),
        /^cannot merge /,
      );
      expect(requests).toEqual([]);
      expect(secret.opens()).toBe(0);
    } finally {
      await secret.release();
    }
  });
});
