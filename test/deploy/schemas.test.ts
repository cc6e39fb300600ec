import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { build, type Manifest } from '../../src/deploy/kustomize.js';
import { PROVIDERS } from '../../src/deploy/providers.js';
import { kubernetesDir, type RenderOptions, renderManifests } from '../../src/deploy/render.js';
import { MODELS, violations } from './kubernetesSchemas.js';

/**
 * Every manifest spotfuse ships or prints, against the schemas of the API server, KEDA and the Prometheus
 * operator, unknown fields refused (test/deploy/kubernetesSchemas.ts): each YAML file under
 * deploy/kubernetes, each kustomization there as built, kubectl kustomize's own output (the goldens of
 * render.test.ts) and `spotfuse k8s render` for every provider and a few flag combinations. Karpenter's
 * NodePool and EC2NodeClass are checked only in part (see PARTLY_CHECKED there).
 */
const KUBERNETES = kubernetesDir();
const GOLDEN = join(import.meta.dirname, 'kustomize');

function yamlFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return yamlFiles(path);
    return name.endsWith('.yaml') ? [path] : [];
  });
}

function parseYaml(file: string): Manifest[] {
  return parseAllDocuments(readFileSync(file, 'utf8')).map((d) => d.toJS() as Manifest);
}

const allViolations = (source: string, docs: readonly Manifest[]) =>
  docs.flatMap((doc) => violations(source, doc));

const RENDERS: RenderOptions[] = [
  ...PROVIDERS.flatMap((provider) => [{ provider }, { provider, chunkJob: true }]),
  { provider: 'eks', karpenter: true },
  { provider: 'eks', karpenter: true, chunkJob: true, namespace: 'batch', gpuType: 'a10g' },
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
  {
    provider: 'aks',
    chunkJob: true,
    image: 'acme.azurecr.io/spotfuse@sha256:'.padEnd(96, 'a'),
    gpuImage: 'acme.azurecr.io/spotfuse:2.0-cuda12',
    gpuType: 'Standard_NC4as_T4_v3',
  },
  { provider: 'generic', replicas: 1, maxWorkers: 4, prometheusUrl: 'https://prom.example:9443' },
];

describe('the manifests validate against the Kubernetes, KEDA and Prometheus operator schemas', () => {
  it('knows the model of every kind spotfuse uses but Karpenter’s', () => {
    for (const type of [
      'v1 Service',
      'v1 Secret',
      'apps/v1 Deployment',
      'batch/v1 Job',
      'policy/v1 PodDisruptionBudget',
      'keda.sh/v1alpha1 ScaledJob',
      'keda.sh/v1alpha1 ScaledObject',
      'monitoring.coreos.com/v1 ServiceMonitor',
    ])
      expect(MODELS.has(type), type).toBe(true);
  });

  it('every YAML file under deploy/kubernetes', () => {
    const files = yamlFiles(KUBERNETES);
    expect(files.length).toBeGreaterThanOrEqual(20);
    expect(files.flatMap((file) => allViolations(relative(KUBERNETES, file), parseYaml(file)))).toEqual([]);
  });

  it('every kustomization under deploy/kubernetes, built', () => {
    const dirs = yamlFiles(KUBERNETES)
      .filter((file) => file.endsWith('/kustomization.yaml') && parseYaml(file)[0].kind === 'Kustomization')
      .map((file) => relative(KUBERNETES, join(file, '..')));
    expect(dirs).toEqual(
      expect.arrayContaining(['base', 'karpenter', 'overlays/eks', 'overlays/eks/chunk-job']),
    );
    expect(dirs.length).toBeGreaterThanOrEqual(11);
    for (const dir of dirs) {
      const docs = build(join(KUBERNETES, dir));
      expect(docs.length, dir).toBeGreaterThan(0);
      expect(allViolations(dir, docs)).toEqual([]);
    }
  });

  it('kubectl kustomize’s output for every case of render.test.ts', () => {
    const goldens = readdirSync(GOLDEN).filter((name) => name.endsWith('.yaml'));
    expect(goldens.length).toBeGreaterThanOrEqual(13);
    expect(goldens.flatMap((name) => allViolations(name, parseYaml(join(GOLDEN, name))))).toEqual([]);
  });

  it.each(RENDERS)('spotfuse k8s render %o', (options) => {
    const docs = renderManifests(options);
    expect(docs.length).toBeGreaterThan(0);
    expect(allViolations(options.provider, docs)).toEqual([]);
  });
});

describe('the schema check fails', () => {
  const [deployment] = build(join(KUBERNETES, 'overlays/gke')).filter((d) => d.kind === 'Deployment');
  const [job] = renderManifests({ provider: 'eks', chunkJob: true });
  const [scaledJob] = renderManifests({ provider: 'aks' }).filter((d) => d.kind === 'ScaledJob');
  const [monitor] = renderManifests({ provider: 'generic' }).filter((d) => d.kind === 'ServiceMonitor');
  const [pool] = renderManifests({ provider: 'eks', karpenter: true }).filter((d) => d.kind === 'NodePool');

  /** doc with one change made by edit, on a copy. */
  const broken = (doc: Manifest, edit: (copy: Manifest) => void) => {
    const copy = structuredClone(doc);
    edit(copy);
    return copy;
  };

  it('on none of the unbroken documents', () => {
    expect(allViolations('ok', [deployment, job, scaledJob, monitor, pool])).toEqual([]);
  });

  it('a field of the wrong type', () => {
    const twoReplicas = broken(deployment, (d) => {
      d.spec.replicas = 'two';
    });
    expect(violations('gke', twoReplicas)).toEqual([
      'gke: Deployment spotfuse-coordinator: data/spec/replicas must be integer',
    ]);
    const textPort = broken(job, (j) => {
      j.spec.template.spec.containers[0].ports = [{ containerPort: '8080' }];
    });
    expect(violations('eks', textPort)).toEqual([
      'eks: Job spotfuse-chunk: data/spec/template/spec/containers/0/ports/0/containerPort must be integer',
    ]);
  });

  it('a required field missing', () => {
    const noTriggers = broken(scaledJob, (s) => {
      delete s.spec.triggers;
    });
    expect(violations('aks', noTriggers)).toEqual([
      'aks: ScaledJob spotfuse-worker-spot: data/spec must have required property triggers',
    ]);
    const noName = broken(job, (j) => {
      delete j.spec.template.spec.containers[0].name;
    });
    expect(violations('eks', noName)).toEqual([
      'eks: Job spotfuse-chunk: data/spec/template/spec/containers/0 must have required property name',
    ]);
  });

  it.each([
    ['gke', 'spec.replica', () => deployment, (d: Manifest) => d.spec, 'replicas'],
    [
      'eks',
      'spec.template.spec.terminationGracePeriod',
      () => job,
      (j: Manifest) => j.spec.template.spec,
      'terminationGracePeriodSeconds',
    ],
    [
      'aks',
      'spec.jobTargetRef.template.spec.containers[0].resource',
      () => scaledJob,
      (s: Manifest) => s.spec.jobTargetRef.template.spec.containers[0],
      'resources',
    ],
    ['aks', 'spec.maxReplicas', () => scaledJob, (s: Manifest) => s.spec, 'maxReplicaCount'],
    [
      'generic',
      'spec.endpoints[0].intervall',
      () => monitor,
      (m: Manifest) => m.spec.endpoints[0],
      'interval',
    ],
  ])('a misspelled field, at any depth: %s %s', (source, path, doc, parent, field) => {
    const typo = path.split('.').at(-1) ?? '';
    const misspelled = broken(doc(), (d) => {
      const object = parent(d);
      expect(object).toHaveProperty(field);
      object[typo] = object[field];
      delete object[field];
    });
    expect(violations(source, misspelled)).toEqual([
      `${source}: ${doc().kind} ${doc().metadata.name}: unknown field ${path}`,
    ]);
  });

  it('in the core types of a Karpenter NodePool', () => {
    const badTaint = broken(pool, (p) => {
      p.spec.template.spec.taints[0].effects = 'NoSchedule';
      p.spec.template.spec.requirements[1].values = 'nvidia';
    });
    expect(violations('eks', badTaint)).toEqual([
      'eks: NodePool spotfuse-gpu: taint 0: unknown field effects',
      'eks: NodePool spotfuse-gpu: requirement 1: data/values must be array',
    ]);
  });

  it('on a kind it has no schema of', () => {
    expect(
      violations('x.yaml', { apiVersion: 'example.com/v1', kind: 'Widget', metadata: { name: 'w' } }),
    ).toEqual(['x.yaml: Widget w: no schema for example.com/v1 Widget']);
  });
});
