import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { extname, join, resolve } from 'node:path';
import type { FastifyInstance } from 'fastify';

/** The built dashboard (dist/web), read into memory once: only files that were built can be served. */
export interface DashboardFiles {
  index: Buffer;
  assets: Map<string, { body: Buffer; type: string }>;
}

const TYPES: Record<string, string> = {
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.woff2': 'font/woff2',
};

/**
 * The page may call its own origin and PUT uploads to the blob store's (presigned URLs, any host);
 * scripts and styles come from this server only (style attributes size the bars).
 */
const SECURITY_HEADERS = {
  'content-security-policy':
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; " +
    "connect-src 'self' http: https:; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
};

/** Where `npm run build` puts the dashboard: dist/web, beside dist/src (this file runs from dist/src/api). */
export function dashboardDir(): string {
  const built = resolve(import.meta.dirname, '../../web');
  return existsSync(join(built, 'index.html')) ? built : resolve(import.meta.dirname, '../../dist/web');
}

/** The dashboard's files, or undefined when it has not been built. */
export function loadDashboard(dir: string = dashboardDir()): DashboardFiles | undefined {
  const indexPath = join(dir, 'index.html');
  if (!existsSync(indexPath)) return undefined;
  const assets = new Map<string, { body: Buffer; type: string }>();
  const assetDir = join(dir, 'assets');
  if (existsSync(assetDir)) {
    for (const entry of readdirSync(assetDir, { withFileTypes: true })) {
      const type = TYPES[extname(entry.name)];
      if (entry.isFile() && type)
        assets.set(entry.name, { body: readFileSync(join(assetDir, entry.name)), type });
    }
  }
  return { index: readFileSync(indexPath), assets };
}

/** Serves the dashboard at `/` and its hashed assets at `/assets/<name>`; anything else is a 404. */
export function serveDashboard(app: FastifyInstance, files: DashboardFiles | undefined): void {
  app.get('/', async (_request, reply) => {
    if (!files)
      return reply
        .code(404)
        .type('text/plain; charset=utf-8')
        .send('The dashboard is not built: run `npm run build` in the spotfuse checkout.\n');
    return reply
      .headers(SECURITY_HEADERS)
      .header('cache-control', 'no-cache')
      .type('text/html; charset=utf-8')
      .send(files.index);
  });
  app.get<{ Params: { name: string } }>('/assets/:name', async (request, reply) => {
    const asset = files?.assets.get(request.params.name);
    if (!asset) return reply.code(404).send({ error: 'no such file' });
    return reply
      .headers(SECURITY_HEADERS)
      .header('cache-control', 'public, max-age=31536000, immutable')
      .type(asset.type)
      .send(asset.body);
  });
}
