import { copyFileSync, mkdirSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { issueToken } from '../../src/api/auth.js';
import { buildApi } from '../../src/api/server.js';
import { LocalBlobStore } from '../../src/blob/localBlobStore.js';
import { LeaseService } from '../../src/coordinator/leaseService.js';
import type { PreviewSettings } from '../../src/coordinator/previews.js';
import { ensureModels } from '../../src/models/download.js';
import { type ModelSettings, resolveModelSettings } from '../../src/models/settings.js';
import type { PreviewImage, PreviewView } from '../../src/protocol/jobViews.js';
import { SqliteStore } from '../../src/store/sqliteStore.js';
import { requiredModels } from '../../src/vision/faceJob.js';
import { faceOptionsOf } from '../../src/vision/faceOptions.js';
import { loadImage } from '../../src/vision/image.js';
import type { RgbImage } from '../../src/vision/rgbImage.js';
import { squareFace, TWO_SQUARES, twoFaceSquares } from '../fixtures/faceSquares.js';
import { FACE_SQUARE, writeModelSet } from '../fixtures/models.js';
import { rotated90 } from '../fixtures/videos.js';
import { useTempDir } from '../helpers/tempDir.js';

const ADMIN = 'preview-test-admin-token-0123456789';
const { width: WIDTH, height: HEIGHT, frames: FRAMES, left: LEFT, right: RIGHT } = TWO_SQUARES;
/** The job's face options: one face, the leftmost. */
const ONE_LEFT = { selector: { mode: 'one', order: 'left-right' } } as const;

/** A blob store whose `size` waits while `hold` is set: a preview is kept running for as long as a test wants. */
class HeldBlobStore extends LocalBlobStore {
  hold: Promise<void> | undefined;
  /** Calls waiting on `hold` now. */
  waiting = 0;

  override async size(key: string): Promise<number | undefined> {
    if (this.hold) {
      this.waiting++;
      await this.hold;
      this.waiting--;
    }
    return super.size(key);
  }
}

describe('POST /v1/previews: one frame through the chain, before paying', () => {
  const dir = useTempDir();
  let store: SqliteStore;
  let blobs: HeldBlobStore;
  let models: ModelSettings;
  let app: FastifyInstance;
  let acme: string;
  let globex: string;
  let video: string;
  let source: string;
  let rotated: string;

  function api(previews: Partial<PreviewSettings> = {}): FastifyInstance {
    return buildApi({
      leases: new LeaseService(store, blobs, { leaseTtlMs: 60_000, maxAttempts: 3 }),
      store,
      adminToken: ADMIN,
      jobs: {
        store,
        blobs,
        rateLimit: { ratePerSecond: 1000, burst: 1000 },
        previews: { models, execution: { provider: 'cpu', threads: 1 }, ...previews },
      },
    });
  }

  const call = (url: string, token: string, payload: object, on = app) =>
    on.inject({ method: 'POST', url, headers: { authorization: `Bearer ${token}` }, payload });

  /** Uploads `path` as `token`'s tenant (the local store's URL is a file: URL) and answers its key. */
  async function upload(token: string, path: string): Promise<string> {
    const answer = (await call('/v1/uploads', token, { name: path, size: statSync(path).size })).json();
    const target = fileURLToPath(answer.url);
    mkdirSync(dirname(target), { recursive: true });
    copyFileSync(path, target);
    return answer.key;
  }

  /** A PNG of the answer, decoded by ffmpeg (not by the encoder under test). */
  async function decoded(image: PreviewImage, name: string): Promise<RgbImage> {
    const prefix = 'data:image/png;base64,';
    expect(image.png.startsWith(prefix)).toBe(true);
    const path = join(dir(), `${name}.png`);
    writeFileSync(path, Buffer.from(image.png.slice(prefix.length), 'base64'));
    const rgb = await loadImage(path);
    expect([rgb.width, rgb.height]).toEqual([image.width, image.height]);
    return rgb;
  }

  /** Whether (x, y) is within `margin` pixels of the square at `at`. */
  const near = (at: { x: number; y: number }, x: number, y: number, margin: number) =>
    x >= at.x - margin &&
    x < at.x + FACE_SQUARE + margin &&
    y >= at.y - margin &&
    y < at.y + FACE_SQUARE + margin;

  /** The largest difference of any channel between the two images over the pixels `where` accepts. */
  function maxDifference(a: RgbImage, b: RgbImage, where: (x: number, y: number) => boolean): number {
    let max = 0;
    for (let y = 0; y < a.height; y++)
      for (let x = 0; x < a.width; x++) {
        if (!where(x, y)) continue;
        for (let c = 0; c < 3; c++) {
          const i = (y * a.width + x) * 3 + c;
          max = Math.max(max, Math.abs(a.data[i] - b.data[i]));
        }
      }
    return max;
  }

  beforeAll(async () => {
    store = new SqliteStore(join(dir(), 'state.db'));
    blobs = new HeldBlobStore(join(dir(), 'blobs'));
    const set = await writeModelSet(dir());
    models = await resolveModelSettings({ modelDir: join(dir(), 'models'), modelManifest: set.manifest });
    // The server's model directory holds what a face swap needs, and no face enhancer.
    await ensureModels(requiredModels(['face_swapper'], faceOptionsOf(ONE_LEFT), models.catalog), models);
    app = api();
    acme = (await issueToken(store, 'tenant', 'acme')).token;
    globex = (await issueToken(store, 'tenant', 'globex')).token;
    video = await upload(acme, await twoFaceSquares(dir()));
    source = await upload(acme, await squareFace(dir()));
    rotated = await upload(acme, await rotated90(dir()));
  });
  afterAll(async () => {
    await app.close();
    await store.close();
  });

  it('shows every face with the one the selector picks, and the frame before and after the swap', async () => {
    const res = await call('/v1/previews', acme, {
      input: video,
      sources: [source],
      processors: ['face_swapper'],
      face: ONE_LEFT,
      frame: 15,
    });
    expect(res.statusCode).toBe(200);
    const preview = res.json() as PreviewView;
    expect(preview).toMatchObject({
      frame: 15,
      frames: FRAMES,
      selector: { mode: 'one', order: 'left-right' },
    });
    // The detector's best first; the boxes are the squares, to the pixel.
    const faces = [...preview.faces!].sort((a, b) => a.box[0] - b.box[0]);
    expect(faces).toHaveLength(2);
    for (const [face, at] of [
      [faces[0], LEFT],
      [faces[1], RIGHT],
    ] as const) {
      const expected = [at.x, at.y, at.x + FACE_SQUARE, at.y + FACE_SQUARE];
      for (const [i, v] of face.box.entries()) expect(Math.abs(v - expected[i])).toBeLessThanOrEqual(1);
      expect(face.landmarks).toHaveLength(5);
      expect(face.score).toBeGreaterThan(0.5);
    }
    expect(faces.map((f) => f.picked)).toEqual([true, false]);

    const original = await decoded(preview.original, 'original');
    const processed = await decoded(preview.processed, 'processed');
    expect([original.width, original.height]).toEqual([WIDTH, HEIGHT]);
    // The original is the frame: white squares on black.
    const at = (image: RgbImage, x: number, y: number) => [
      ...image.data.subarray((y * WIDTH + x) * 3, (y * WIDTH + x) * 3 + 3),
    ];
    for (const c of at(original, LEFT.x + 48, LEFT.y + 48)) expect(c).toBeGreaterThan(235);
    for (const c of at(original, 10, 10)) expect(c).toBeLessThan(20);
    // The picked face is swapped: the stand-in swapper paints it one colour, far from white…
    const centre = (x: number, y: number) =>
      x >= LEFT.x + 24 && x < LEFT.x + 72 && y >= LEFT.y + 24 && y < LEFT.y + 72;
    expect(maxDifference(original, processed, centre)).toBeGreaterThan(60);
    // …and nothing else changes: not the face left alone, not the frame beyond the picked face's surroundings.
    expect(maxDifference(original, processed, (x, y) => near(RIGHT, x, y, 0))).toBe(0);
    expect(maxDifference(original, processed, (x, y) => !near(LEFT, x, y, 48))).toBe(0);
  });

  it("picks as the job's default reference mode does: every face like the one of the reference frame", async () => {
    const res = await call('/v1/previews', acme, {
      input: video,
      sources: [source],
      processors: ['face_swapper'],
      frame: 20,
    });
    expect(res.statusCode).toBe(200);
    const preview = res.json() as PreviewView;
    expect(preview.selector?.mode).toBe('reference');
    // Frame 0's face is a white square, and so are both faces of frame 20: both are picked.
    expect(preview.faces!.map((f) => f.picked)).toEqual([true, true]);
  });

  it('previews exactly the frame asked for (the right face appears at frame 15)', async () => {
    const res = await call('/v1/previews', acme, {
      input: video,
      sources: [source],
      processors: ['face_swapper'],
      face: ONE_LEFT,
      frame: 14,
    });
    expect(res.statusCode).toBe(200);
    const { faces } = res.json() as PreviewView;
    expect(faces!.map((f) => [Math.round(f.box[0]), f.picked])).toEqual([[LEFT.x, true]]);
  });

  it('shows a rotated video upright, as the workers decode it; a chain without face processors finds no faces', async () => {
    const res = await call('/v1/previews', acme, { input: rotated, processors: ['passthrough'], frame: 5 });
    expect(res.statusCode).toBe(200);
    const preview = res.json() as PreviewView;
    expect(preview.faces).toBeNull();
    expect(preview.selector).toBeNull();
    expect([preview.original.width, preview.original.height]).toEqual([240, 320]);
    expect(preview.processed.png).toBe(preview.original.png);
  });

  it('refuses a frame the video does not have (400), in plain words', async () => {
    const past = await call('/v1/previews', acme, {
      input: video,
      processors: ['passthrough'],
      frame: FRAMES,
    });
    expect(past.statusCode).toBe(400);
    expect(past.json().error).toBe('frame 30 is not a frame of the video: it has 30 frames (0 to 29)');
    const negative = await call('/v1/previews', acme, {
      input: video,
      processors: ['passthrough'],
      frame: -1,
    });
    expect(negative.statusCode).toBe(400);
    const unknown = await call('/v1/previews', acme, {
      input: video,
      processors: ['passthrough'],
      frame: 0,
      chunkFrames: 5,
    });
    expect(unknown.statusCode).toBe(400);
  });

  it('refuses frames bigger than the server previews (422)', async () => {
    const small = api({ maxPixels: 320 * 240 });
    try {
      const res = await call(
        '/v1/previews',
        acme,
        { input: video, processors: ['passthrough'], frame: 0 },
        small,
      );
      expect(res.statusCode).toBe(422);
      expect(res.json().error).toBe('the frames are too big to preview here: 640x360 (at most 76800 pixels)');
      const rotatedFits = await call(
        '/v1/previews',
        acme,
        { input: rotated, processors: ['passthrough'], frame: 0 },
        small,
      );
      expect(rotatedFits.statusCode).toBe(200);
    } finally {
      await small.close();
    }
  });

  it("checks the request as a job's: a swap without a source face is a 400", async () => {
    const res = await call('/v1/previews', acme, { input: video, processors: ['face_swapper'], frame: 0 });
    expect(res.statusCode).toBe(400);
    expect(res.json().error).toMatch(/face_swapper needs a source face image/);
  });

  it("keeps tenants apart: another tenant's upload is a 404, and the admin cannot preview", async () => {
    const res = await call('/v1/previews', globex, { input: video, processors: ['passthrough'], frame: 0 });
    expect(res.statusCode).toBe(404);
    expect(res.json().error).toBe(`no such upload: ${video}`);
    const theirs = await upload(globex, await squareFace(dir()));
    const mixed = await call('/v1/previews', acme, {
      input: video,
      sources: [theirs],
      processors: ['face_swapper'],
      frame: 0,
    });
    expect(mixed.statusCode).toBe(404);
    const admin = await call('/v1/previews', ADMIN, { input: video, processors: ['passthrough'], frame: 0 });
    expect(admin.statusCode).toBe(403);
  });

  it('names the models the server does not have (409) and fetches none', async () => {
    const res = await call('/v1/previews', acme, {
      input: video,
      processors: ['face_enhancer'],
      face: ONE_LEFT,
      frame: 0,
    });
    expect(res.statusCode).toBe(409);
    expect(res.json().error).toMatch(
      /1 model it needs is not in its model directory: gfpgan_1\.4 .*models download gfpgan_1\.4/,
    );
    expect(statSync(join(models.dir, 'gfpgan_1.4.onnx'), { throwIfNoEntry: false })).toBeUndefined();
  });

  it('runs one preview at a time: another meanwhile is a 503 with Retry-After', async () => {
    let release = () => {};
    blobs.hold = new Promise<void>((resolve) => {
      release = resolve;
    });
    const body = { input: video, processors: ['passthrough'], frame: 0 };
    const first = call('/v1/previews', acme, body);
    // The first holds the server's one preview slot while the blob store keeps it waiting.
    while (blobs.waiting === 0) await new Promise((resolve) => setImmediate(resolve));
    const second = await call('/v1/previews', acme, body);
    expect(second.statusCode).toBe(503);
    expect(second.headers['retry-after']).toBe('5');
    expect(second.json().error).toMatch(/another preview is running/);
    blobs.hold = undefined;
    release();
    expect((await first).statusCode).toBe(200);
    expect((await call('/v1/previews', acme, body)).statusCode).toBe(200);
  });

  it('answers a preview that runs past the time limit with a 503, and keeps its slot until it has stopped', async () => {
    const strict = api({ timeoutMs: 50 });
    let release = () => {};
    blobs.hold = new Promise<void>((resolve) => {
      release = resolve;
    });
    try {
      const body = { input: video, processors: ['passthrough'], frame: 0 };
      // Held by the blob store, the preview cannot end before its time is up.
      const late = await call('/v1/previews', acme, body, strict);
      expect(late.statusCode).toBe(503);
      expect(late.json().error).toBe('the preview took longer than 0.05 s and was stopped');
      expect(late.headers['retry-after']).toBeUndefined();
      // Its work has not stopped yet: the server's one slot is still taken.
      const meanwhile = await call('/v1/previews', acme, body, strict);
      expect(meanwhile.json().error).toMatch(/another preview is running/);
    } finally {
      blobs.hold = undefined;
      release();
      await strict.close();
    }
  });
});
