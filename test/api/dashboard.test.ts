import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Fastify from 'fastify';
import { describe, expect, it } from 'vitest';
import { loadDashboard, serveDashboard } from '../../src/api/dashboard.js';
import { useTempDir } from '../helpers/tempDir.js';

describe('dashboard files', () => {
  const dir = useTempDir();

  function built(): string {
    const root = join(dir(), 'web');
    mkdirSync(join(root, 'assets'), { recursive: true });
    writeFileSync(join(root, 'index.html'), '<!doctype html><title>spotfuse</title>');
    writeFileSync(join(root, 'assets', 'index-abc.js'), 'console.log(1)');
    writeFileSync(join(root, 'assets', 'notes.txt'), 'not an asset type');
    writeFileSync(join(dir(), 'secret.txt'), 'outside');
    return root;
  }

  it('serves the page and its built assets with a content security policy, and nothing else', async () => {
    const app = Fastify();
    serveDashboard(app, loadDashboard(built()));
    const page = await app.inject({ url: '/' });
    expect(page.statusCode).toBe(200);
    expect(page.headers['content-type']).toMatch(/^text\/html/);
    expect(page.headers['content-security-policy']).toContain("script-src 'self'");
    expect(page.body).toContain('<title>spotfuse</title>');
    const script = await app.inject({ url: '/assets/index-abc.js' });
    expect(script.statusCode).toBe(200);
    expect(script.headers['content-type']).toMatch(/^text\/javascript/);
    expect(script.body).toBe('console.log(1)');
    for (const url of [
      '/assets/notes.txt',
      '/assets/..%2F..%2Fsecret.txt',
      '/assets/../../secret.txt',
      '/assets/',
      '/index.html/../secret.txt',
    ]) {
      const res = await app.inject({ url });
      expect(res.statusCode, url).toBe(404);
      expect(res.body, url).not.toContain('outside');
    }
    // The router resolves dot segments before routing: this one is `/`, the page itself.
    expect((await app.inject({ url: '/assets/%2e%2e' })).body).toContain('<title>spotfuse</title>');
    await app.close();
  });

  it('says how to build the dashboard when it is not built', async () => {
    expect(loadDashboard(join(dir(), 'none'))).toBeUndefined();
    const app = Fastify();
    serveDashboard(app, undefined);
    const page = await app.inject({ url: '/' });
    expect(page.statusCode).toBe(404);
    expect(page.body).toMatch(/not built: run `npm run build`/);
    await app.close();
  });
});
