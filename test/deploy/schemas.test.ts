import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import * as karpenter from '@kubernetes-models/karpenter';
import * as keda from '@kubernetes-models/keda';
import * as prometheusOperator from '@kubernetes-models/prometheus-operator';
import * as kubernetes from 'kubernetes-models';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { build, type Manifest } from '../../src/deploy/kustomize.js';
import { PROVIDERS } from '../../src/deploy/providers.js';
import { kubernetesDir, renderManifests } from '../../src/deploy/render.js';

/**
 * Every manifest spotfuse ships or prints, against the schemas of the API server and of the CRDs it needs
 * (KEDA, the Prometheus operator, Karpenter): each kustomization under deploy/kubernetes as built,
 * kubectl kustomize's own output (the goldens of render.test.ts), and `spotfuse k8s render` for every
 * provider. A kind without a model fails unless NOT_SCHEMA_CHECKED lists it.
 */
interface Model {
  validate(): void;
}
type ModelClass = (new (data: Manifest) => Model) & { apiVersion: string; kind: string };

/** Kinds that are no API object: kustomize reads them, the cluster never sees them. */
const NOT_SCHEMA_CHECKED = new Set([
  'kustomize.config.k8s.io/v1beta1 Kustomization',
  'kustomize.config.k8s.io/v1alpha1 Component',
]);

function isModelClass(value: unknown): value is ModelClass {
  const statics = value as Partial<ModelClass>;
  return (
    typeof value === 'function' && typeof statics.apiVersion === 'string' && typeof statics.kind === 'string'
  );
}

/** "apiVersion kind" → model, from the packages' namespaces (group → version → class). */
function modelsOf(...packages: object[]): Map<string, ModelClass> {
  const models = new Map<string, ModelClass>();
  const walk = (namespace: object) => {
    for (const value of Object.values(namespace)) {
      if (isModelClass(value)) models.set(`${value.apiVersion} ${value.kind}`, value);
      else if (value && typeof value === 'object') walk(value);
    }
  };
  for (const pkg of packages) walk(pkg);
  return models;
}

const MODELS = modelsOf(kubernetes, keda, prometheusOperator, karpenter);

/** The schema violations of one document, as one line naming where it came from; undefined when valid. */
function violation(source: string, doc: Manifest): string | undefined {
  const type = `${doc.apiVersion} ${doc.kind}`;
  const where = `${source}: ${doc.kind} ${doc.metadata?.name}`;
  const Model = MODELS.get(type);
  if (!Model) return NOT_SCHEMA_CHECKED.has(type) ? undefined : `${where}: no schema for ${type}`;
  try {
    new Model(doc).validate();
    return undefined;
  } catch (error) {
    return `${where}: ${(error as Error).message}`;
  }
}

function violations(source: string, docs: readonly Manifest[]): string[] {
  return docs.flatMap((doc) => violation(source, doc) ?? []);
}

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

const KUBERNETES = kubernetesDir();
const GOLDEN = join(import.meta.dirname, 'kustomize');

describe('the manifests validate against the Kubernetes, KEDA, Prometheus operator and Karpenter schemas', () => {
  it('knows the models of every kind spotfuse uses', () => {
    for (const type of [
      'v1 Service',
      'v1 Secret',
      'apps/v1 Deployment',
      'batch/v1 Job',
      'policy/v1 PodDisruptionBudget',
      'keda.sh/v1alpha1 ScaledJob',
      'keda.sh/v1alpha1 ScaledObject',
      'monitoring.coreos.com/v1 ServiceMonitor',
      'karpenter.sh/v1 NodePool',
      'karpenter.k8s.aws/v1 EC2NodeClass',
    ])
      expect(MODELS.has(type), type).toBe(true);
  });

  it('every YAML file under deploy/kubernetes', () => {
    const files = yamlFiles(KUBERNETES);
    expect(files.length).toBeGreaterThanOrEqual(20);
    expect(files.flatMap((file) => violations(relative(KUBERNETES, file), parseYaml(file)))).toEqual([]);
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
      expect(violations(dir, docs)).toEqual([]);
    }
  });

  it('kubectl kustomize’s output for every case of render.test.ts', () => {
    const goldens = readdirSync(GOLDEN).filter((name) => name.endsWith('.yaml'));
    expect(goldens.length).toBeGreaterThanOrEqual(13);
    expect(goldens.flatMap((name) => violations(name, parseYaml(join(GOLDEN, name))))).toEqual([]);
  });

  it.each(PROVIDERS)('spotfuse k8s render --provider %s, with and without --chunk-job', (provider) => {
    for (const chunkJob of [false, true]) {
      const docs = renderManifests({ provider, chunkJob });
      expect(docs.length).toBeGreaterThan(0);
      expect(violations(`${provider}${chunkJob ? ' --chunk-job' : ''}`, docs)).toEqual([]);
    }
    if (provider === 'eks')
      expect(violations('eks --karpenter', renderManifests({ provider, karpenter: true }))).toEqual([]);
  });

  it('fails a document that breaks its schema, or whose kind it has no model of', () => {
    const [deployment] = build(join(KUBERNETES, 'overlays/gke')).filter((d) => d.kind === 'Deployment');
    expect(violation('gke', deployment)).toBeUndefined();
    expect(violation('gke', { ...deployment, spec: { ...deployment.spec, replicas: 'two' } })).toMatch(
      /^gke: Deployment spotfuse-coordinator: .*replicas/,
    );
    const [job] = renderManifests({ provider: 'eks', chunkJob: true });
    const [container] = job.spec.template.spec.containers;
    const broken = structuredClone(job);
    broken.spec.template.spec.containers = [{ ...container, ports: [{ containerPort: '8080' }] }];
    expect(violation('eks --chunk-job', broken)).toMatch(
      /^eks --chunk-job: Job spotfuse-chunk: .*containerPort/,
    );
    expect(
      violation('x.yaml', { apiVersion: 'example.com/v1', kind: 'Widget', metadata: { name: 'w' } }),
    ).toBe('x.yaml: Widget w: no schema for example.com/v1 Widget');
  });
});
