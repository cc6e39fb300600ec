import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseAllDocuments, stringify } from 'yaml';
import { UserError } from '../../src/core/errors.js';
import { build, type Manifest } from '../../src/deploy/kustomize.js';
import { PROVIDERS } from '../../src/deploy/providers.js';
import {
  kubernetesDir,
  type RenderOptions,
  renderKustomization,
  renderManifests,
} from '../../src/deploy/render.js';

/**
 * `spotfuse k8s render` against kustomize itself. Every case's manifests were printed by `kubectl
 * kustomize` (kustomize v5.5.0) into test/deploy/kustomize/CASE.yaml; render must give the same objects in
 * the same order. Where kubectl is installed, kustomize is run again, so the files cannot go stale
 * (SPOTFUSE_UPDATE_KUSTOMIZE=1 rewrites them).
 */
const GOLDEN = join(import.meta.dirname, 'kustomize');
const kubectl = spawnSync('kubectl', ['version', '--client'], { encoding: 'utf8' }).status === 0;
const update = process.env.SPOTFUSE_UPDATE_KUSTOMIZE === '1';
const scratch = mkdtempSync(join(tmpdir(), 'spotfuse-kustomize-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

function parseYaml(text: string): Manifest[] {
  return parseAllDocuments(text).map((d) => d.toJS() as Manifest);
}

function kustomize(dir: string): string {
  return execFileSync('kubectl', ['kustomize', dir], { encoding: 'utf8' });
}

/** Writes render's kustomization where kubectl can build it: a directory of its own, paths adjusted. */
function kustomizationDir(name: string, options: RenderOptions): string {
  const { kustomization, dir } = renderKustomization(options);
  const out = join(scratch, name);
  mkdirSync(out, { recursive: true });
  const resources = (kustomization.resources ?? []).map((r) => relative(out, join(dir, r)));
  writeFileSync(join(out, 'kustomization.yaml'), stringify({ ...kustomization, resources }));
  return out;
}

const CASES: [string, RenderOptions][] = [
  ...PROVIDERS.map((p): [string, RenderOptions] => [p, { provider: p }]),
  ...PROVIDERS.map((p): [string, RenderOptions] => [`${p}-chunk-job`, { provider: p, chunkJob: true }]),
  [
    'gke-parameters',
    {
      provider: 'gke',
      namespace: 'video',
      image: 'europe-docker.pkg.dev/acme/spotfuse/spotfuse:1.4.2',
      gpuType: 'nvidia-l4',
      replicas: 3,
      maxWorkers: 64,
      maxOnDemandWorkers: 8,
      spotWaitLimit: '30m',
      prometheusUrl: 'http://prometheus.gmp-system.svc:9090',
    },
  ],
  [
    'eks-chunk-job-parameters',
    {
      provider: 'eks',
      chunkJob: true,
      namespace: 'batch',
      image: `123456789012.dkr.ecr.us-east-1.amazonaws.com/spotfuse@sha256:${'a'.repeat(64)}`,
      gpuImage: '123456789012.dkr.ecr.us-east-1.amazonaws.com/spotfuse:2.0-cuda12',
      gpuType: 'a10g',
    },
  ],
  ['aks-parameters', { provider: 'aks', image: 'acme.azurecr.io/spotfuse', gpuType: 'Standard_NC4as_T4_v3' }],
  ['generic-parameters', { provider: 'generic', maxWorkers: 4, prometheusUrl: 'https://prom.example:9443' }],
];

describe('spotfuse k8s render equals kustomize', () => {
  it.each(CASES)('%s', (name, options) => {
    const golden = join(GOLDEN, `${name}.yaml`);
    if (kubectl) {
      const built = kustomize(kustomizationDir(name, options));
      if (update) writeFileSync(golden, built);
      expect(parseYaml(built)).toEqual(parseYaml(readFileSync(golden, 'utf8')));
    }
    expect(existsSync(golden), `${golden}: run with kubectl and SPOTFUSE_UPDATE_KUSTOMIZE=1`).toBe(true);
    const expected = parseYaml(readFileSync(golden, 'utf8'));
    expect(renderManifests(options)).toEqual(expected);
    expect(expected.length).toBeGreaterThan(0);
  });

  it('builds the Karpenter NodePools as kustomize does', () => {
    for (const dir of ['karpenter']) {
      const path = join(kubernetesDir(), dir);
      const golden = join(GOLDEN, `${dir.replaceAll('/', '-')}.dir.yaml`);
      if (kubectl) {
        const built = kustomize(path);
        if (update) writeFileSync(golden, built);
        expect(parseYaml(built), dir).toEqual(parseYaml(readFileSync(golden, 'utf8')));
      }
      expect(build(path), dir).toEqual(parseYaml(readFileSync(golden, 'utf8')));
    }
  });

  it('applies the parameters where they belong', () => {
    const docs = renderManifests(CASES.find(([n]) => n === 'gke-parameters')?.[1] as RenderOptions);
    const images = docs.flatMap(
      (d) =>
        JSON.stringify(d)
          .match(/"image":"[^"]+"/g)
          ?.map((m) => m.slice(9, -1)) ?? [],
    );
    expect(new Set(images)).toEqual(
      new Set([
        'europe-docker.pkg.dev/acme/spotfuse/spotfuse:1.4.2',
        'europe-docker.pkg.dev/acme/spotfuse/spotfuse:1.4.2-cuda12',
      ]),
    );
    expect(new Set(docs.map((d) => d.metadata.namespace))).toEqual(new Set(['video']));
    const spot = docs.find((d) => d.kind === 'ScaledJob') as Manifest;
    expect(spot.spec.maxReplicaCount).toBe(64);
    expect(spot.spec.jobTargetRef.template.spec.nodeSelector['cloud.google.com/gke-accelerator']).toBe(
      'nvidia-l4',
    );
    expect(spot.spec.triggers[0].metadata.serverAddress).toBe('http://prometheus.gmp-system.svc:9090');
    expect(
      docs.find((d) => d.kind === 'Deployment' && d.metadata.name === 'spotfuse-coordinator')?.spec.replicas,
    ).toBe(3);
    const coordinator = docs.find(
      (d) => d.kind === 'Deployment' && d.metadata.name === 'spotfuse-coordinator',
    );
    const args: string[] = coordinator?.spec.template.spec.containers[0].args;
    expect(args.slice(args.indexOf('--spot-wait-limit'))).toEqual(['--spot-wait-limit', '30m']);
    const onDemand = docs.find((d) => d.kind === 'ScaledObject') as Manifest;
    expect(onDemand.spec.maxReplicaCount).toBe(8);
  });

  it('refuses what it cannot render, in one line', () => {
    expect(() => renderManifests({ provider: 'gke', karpenter: true })).toThrow(UserError);
    expect(() => renderManifests({ provider: 'gke', image: 'Not An Image' })).toThrow(
      /not an image reference/,
    );
  });

  it('prints the manifests from the built CLI, and one line for a wrong option', () => {
    const bin = join(import.meta.dirname, '../../bin/spotfuse.js');
    const run = (args: string[]) => spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8' });
    const ok = run(['k8s', 'render', '--provider', 'eks', '--karpenter', '--namespace', 'gpu']);
    expect(ok.stderr).toBe('');
    expect(ok.status).toBe(0);
    expect(parseYaml(ok.stdout)).toEqual(
      renderManifests({ provider: 'eks', karpenter: true, namespace: 'gpu' }),
    );
    for (const args of [
      ['--provider', 'aks', '--karpenter'],
      ['--provider', 'gke', '--namespace', 'Video_1'],
      ['--provider', 'gke', '--chunk-job', '--replicas', '3'],
      ['--provider', 'gke', '--chunk-job', '--spot-wait-limit', '30m'],
      ['--provider', 'gke', '--spot-wait-limit', 'soon'],
      ['--provider', 'gke', '--prometheus-url', 'prometheus:9090'],
    ]) {
      const failed = run(['k8s', 'render', ...args]);
      expect(failed.status, args.join(' ')).not.toBe(0);
      expect(failed.stdout).toBe('');
      expect(failed.stderr.trim().split('\n'), failed.stderr).toHaveLength(1);
      expect(failed.stderr).toMatch(/^spotfuse: /);
    }
  });
});
