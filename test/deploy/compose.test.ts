import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseDocument } from 'yaml';
import { type Doc, parseCli } from './cli.js';
import { imageModelsDir } from './imageModels.js';

const DEPLOY = join(import.meta.dirname, '../../deploy');
const text = readFileSync(join(DEPLOY, 'compose.yaml'), 'utf8');

/** Compose's interpolation: $$, ${VAR}, ${VAR:-default}, ${VAR-default}, ${VAR:?error}, ${VAR?error}. */
function interpolate(value: unknown, env: Record<string, string>): unknown {
  if (Array.isArray(value)) return value.map((v) => interpolate(v, env));
  if (typeof value === 'object' && value !== null)
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, interpolate(v, env)]));
  if (typeof value !== 'string') return value;
  return value.replace(
    /\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?)([-?])((?:[^}]|\}(?!\}))*?))?\}/g,
    (_match, name?: string, colon?: string, kind?: string, word?: string) => {
      if (name === undefined) return '$';
      const set = env[name] !== undefined && (colon !== ':' || env[name] !== '');
      if (set) return env[name];
      if (kind === '-') return word ?? '';
      if (kind === '?') throw new Error(`${name}: ${word}`);
      return '';
    },
  );
}

/** The variables of compose.env.example, the empty secrets filled in. */
function exampleEnv(): Record<string, string> {
  const env: Record<string, string> = {};
  for (const line of readFileSync(join(DEPLOY, 'compose.env.example'), 'utf8').split('\n')) {
    const match = /^([A-Z_][A-Z0-9_]*)=(.*)$/.exec(line);
    if (match) env[match[1]] = match[2];
  }
  return { ...env, SPOTFUSE_ADMIN_TOKEN: 'a'.repeat(48), SPOTFUSE_WORKER_TOKEN: 'sf_w_0123456789abcdef' };
}

describe('deploy/compose.yaml', () => {
  const document = parseDocument(text);
  const raw = document.toJS() as Doc;
  const compose = interpolate(raw, exampleEnv()) as Doc;
  const services = compose.services as Record<string, Doc>;

  it('parses, and holds PostgreSQL, MinIO, its bucket, the coordinator and one GPU worker', () => {
    expect([...document.errors, ...document.warnings].map((e) => e.message)).toEqual([]);
    expect(Object.keys(services).sort()).toEqual([
      'coordinator',
      'minio',
      'minio-init',
      'postgres',
      'worker',
    ]);
    expect(Object.keys(compose.volumes).sort()).toEqual(['minio', 'models', 'postgres', 'work']);
    for (const [name, service] of Object.entries(services)) {
      expect(service.image, name).toMatch(/^[\w./-]+:[\w.-]+$/);
      for (const [dependency, { condition }] of Object.entries(service.depends_on ?? {}) as [string, Doc][]) {
        expect(services[dependency], `${name} depends on ${dependency}`).toBeDefined();
        if (condition === 'service_healthy')
          expect(services[dependency].healthcheck, dependency).toBeDefined();
        else expect(condition).toBe('service_completed_successfully');
      }
      for (const mount of service.volumes ?? [])
        expect(compose.volumes, mount).toHaveProperty(mount.split(':')[0]);
    }
    expect(services.coordinator.image).toBe('spotfuse:0.1.0');
    expect(services.worker.image).toBe('spotfuse-gpu:0.1.0');
  });

  it('refuses to start without its secrets', () => {
    const env = exampleEnv();
    for (const name of ['POSTGRES_PASSWORD', 'MINIO_ROOT_PASSWORD', 'SPOTFUSE_ADMIN_TOKEN']) {
      expect(() => interpolate(raw, { ...env, [name]: '' }), name).toThrow(name);
    }
  });

  it('reserves a GPU for the worker and gives it longer than any notice to stop', () => {
    const { worker } = services;
    expect(worker.deploy.resources.reservations.devices).toEqual([
      { driver: 'nvidia', count: 1, capabilities: ['gpu'] },
    ]);
    expect(worker.stop_grace_period).toBe('2m');
  });

  it('checks the coordinator’s health with a script node can run', () => {
    const [cmd, node, flag, script] = services.coordinator.healthcheck.test;
    expect([cmd, node, flag]).toEqual(['CMD', 'node', '-e']);
    expect(script).toContain("'http://127.0.0.1:8080/readyz'");
    expect(() => new Function(script)).not.toThrow();
  });

  it('runs command lines the real CLI parser accepts, wired to the services they name', async () => {
    for (const service of Object.values(services))
      expect(service.command ?? [], 'a token on a command line').not.toContain('--token');

    const coordinator = services.coordinator;
    const server = await parseCli(coordinator.command.map(String), coordinator.environment);
    expect(server.command).toBe('server');
    const db = new URL(server.options.db as string);
    expect(db.hostname).toBe('postgres');
    expect(decodeURIComponent(db.password)).toBe(services.postgres.environment.POSTGRES_PASSWORD);
    expect(db.username).toBe(services.postgres.environment.POSTGRES_USER);
    expect(db.pathname).toBe(`/${services.postgres.environment.POSTGRES_DB}`);
    expect(new URL(server.options.s3Endpoint as string).host).toBe('minio:9000');
    expect(server.options.s3ForcePathStyle).toBe(true);
    const bucket = /^s3:\/\/([^/]+)/.exec(server.options.blob as string)?.[1];
    expect(services['minio-init'].command[0]).toContain(`mc mb --ignore-existing local/${bucket}`);
    expect(coordinator.environment.AWS_SECRET_ACCESS_KEY).toBe(
      services.minio.environment.MINIO_ROOT_PASSWORD,
    );
    expect(coordinator.ports).toContain(`${(server.options.listen as string).split(':')[1]}:8080`);

    const worker = services.worker;
    const parsed = await parseCli(worker.command.map(String), worker.environment);
    expect(parsed.command).toBe('worker');
    expect(parsed.options).toMatchObject({
      server: 'http://coordinator:8080',
      pool: 'spot',
      token: 'sf_w_0123456789abcdef',
      executionProvider: ['cuda'],
    });
  });

  it("gives the coordinator's previews the models the worker downloads, where both images look for them", () => {
    const mounts = (service: Doc) => (service.volumes as string[]).filter((v) => v.startsWith('models:'));
    expect(mounts(services.coordinator)).toEqual([`models:${imageModelsDir('Dockerfile')}`]);
    expect(mounts(services.worker)).toEqual([`models:${imageModelsDir('Dockerfile.gpu')}`]);
  });

  it('documents every variable it reads in compose.env.example', () => {
    const used = new Set([...text.matchAll(/\$\{([A-Z_][A-Z0-9_]*)/g)].map((m) => m[1]));
    const example = readFileSync(join(DEPLOY, 'compose.env.example'), 'utf8');
    for (const name of used) expect(example, name).toMatch(new RegExp(`^#? ?${name}=`, 'm'));
  });
});

describe('deploy/prometheus/scrape.yaml', () => {
  it('keeps the coordinator pods by the label and annotations the coordinator Deployment carries', async () => {
    const { renderManifests } = await import('../../src/deploy/render.js');
    const coordinator = renderManifests({ provider: 'generic' }).find(
      (d) => d.kind === 'Deployment' && d.metadata.name === 'spotfuse-coordinator',
    ) as Doc;
    const config = parseDocument(readFileSync(join(DEPLOY, 'prometheus/scrape.yaml'), 'utf8')).toJS() as Doc;
    const [kubernetes] = config.scrape_configs;
    expect(kubernetes.kubernetes_sd_configs[0].namespaces.names).toEqual([coordinator.metadata.namespace]);
    const keep = kubernetes.relabel_configs.filter((r: Doc) => r.action === 'keep');
    expect(keep[0].regex).toBe(coordinator.spec.template.metadata.labels['app.kubernetes.io/name']);
    const annotations = coordinator.spec.template.metadata.annotations;
    expect(annotations['prometheus.io/scrape']).toBe(keep[1].regex);
    expect(annotations['prometheus.io/path']).toBe('/metrics');
    expect(annotations['prometheus.io/port']).toBe('8080');
  });
});
