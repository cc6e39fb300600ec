import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { UserError } from '../core/errors.js';
import { packageRoot } from '../cost/prices.js';
import type { PatchOperation } from './jsonPatch.js';
import {
  build,
  compose,
  type Kustomization,
  type Manifest,
  type PatchTarget,
  splitImage,
} from './kustomize.js';
import { PROVIDER_FACTS, type Provider } from './providers.js';

/** deploy/kubernetes of the installed package (shipped in its `files`, copied into the image). */
export function kubernetesDir(): string {
  const dir = join(packageRoot(), 'deploy', 'kubernetes');
  if (!existsSync(join(dir, 'overlays'))) throw new UserError(`${dir}: no Kubernetes overlays there`);
  return dir;
}

export interface RenderOptions {
  provider: Provider;
  /** The per-chunk Job template instead of the coordinator and the worker pools. */
  chunkJob?: boolean;
  /** Also Karpenter's NodePool and EC2NodeClass (eks only). */
  karpenter?: boolean;
  namespace?: string;
  /** REGISTRY/spotfuse:TAG of the coordinator; the GPU image defaults to the same with TAG-cuda12. */
  image?: string;
  gpuImage?: string;
  /** A value of the provider's GPU model label (PROVIDER_FACTS[provider].gpuTypeLabel). */
  gpuType?: string;
  /** Coordinator replicas. */
  replicas?: number;
  /** Most spot worker Jobs KEDA runs at once. */
  maxWorkers?: number;
  /** Most on-demand workers KEDA scales the fallback pool to. */
  maxOnDemandWorkers?: number;
  /** The coordinator's --spot-wait-limit, as a duration (`15m`). */
  spotWaitLimit?: string;
  /** The Prometheus that KEDA's triggers query. */
  prometheusUrl?: string;
}

const pointerToken = (key: string) => key.replaceAll('~', '~0').replaceAll('/', '~1');

function patch(target: PatchTarget) {
  return (operations: PatchOperation[]) => ({ target, patch: stringify(operations) });
}

const SPOT_JOBS = { group: 'keda.sh', kind: 'ScaledJob', name: 'spotfuse-worker-spot' };
const CHUNK_JOB = { group: 'batch', kind: 'Job', name: 'spotfuse-chunk' };
const ON_DEMAND = { group: 'apps', kind: 'Deployment', name: 'spotfuse-worker-on-demand' };
const COORDINATOR = { group: 'apps', kind: 'Deployment', name: 'spotfuse-coordinator' };
const ON_DEMAND_SCALER = { group: 'keda.sh', kind: 'ScaledObject', name: 'spotfuse-worker-on-demand' };

/**
 * The kustomization `render` builds: the provider's overlay as its one resource, the options as
 * kustomize's own fields and JSON 6902 patches. Written to a directory as kustomization.yaml (its
 * resource path made relative to it), `kubectl kustomize` prints the same manifests
 * (test/deploy/render.test.ts checks it).
 */
export function renderKustomization(options: RenderOptions): { kustomization: Kustomization; dir: string } {
  const dir = kubernetesDir();
  const overlay = `overlays/${options.provider}${options.chunkJob ? '/chunk-job' : ''}`;
  const k: Kustomization = {
    apiVersion: 'kustomize.config.k8s.io/v1beta1',
    kind: 'Kustomization',
    resources: [overlay],
  };
  if (options.namespace) k.namespace = options.namespace;
  const gpuImage = options.gpuImage ?? (options.image && withTagSuffix(options.image, '-cuda12'));
  const images = [
    ...(options.image ? [imageRule('spotfuse', options.image)] : []),
    ...(gpuImage ? [imageRule('spotfuse-gpu', gpuImage)] : []),
  ];
  if (images.length > 0) k.images = images;
  const patches: NonNullable<Kustomization['patches']> = [];
  const gpuPods = options.chunkJob
    ? [[CHUNK_JOB, '/spec/template/spec'] as const]
    : [[SPOT_JOBS, '/spec/jobTargetRef/template/spec'] as const, [ON_DEMAND, '/spec/template/spec'] as const];
  if (options.gpuType) {
    const label = pointerToken(PROVIDER_FACTS[options.provider].gpuTypeLabel);
    for (const [target, spec] of gpuPods)
      patches.push(
        patch(target)([{ op: 'add', path: `${spec}/nodeSelector/${label}`, value: options.gpuType }]),
      );
  }
  if (!options.chunkJob) {
    if (options.replicas !== undefined)
      patches.push(patch(COORDINATOR)([{ op: 'replace', path: '/spec/replicas', value: options.replicas }]));
    if (options.maxWorkers !== undefined)
      patches.push(
        patch(SPOT_JOBS)([{ op: 'replace', path: '/spec/maxReplicaCount', value: options.maxWorkers }]),
      );
    if (options.maxOnDemandWorkers !== undefined)
      patches.push(
        patch(ON_DEMAND_SCALER)([
          { op: 'replace', path: '/spec/maxReplicaCount', value: options.maxOnDemandWorkers },
        ]),
      );
    if (options.spotWaitLimit !== undefined)
      patches.push(
        patch(COORDINATOR)([
          {
            op: 'replace',
            path: coordinatorArgValue(dir, '--spot-wait-limit'),
            value: options.spotWaitLimit,
          },
        ]),
      );
    if (options.prometheusUrl)
      for (const target of [SPOT_JOBS, ON_DEMAND_SCALER])
        patches.push(
          patch(target)([
            { op: 'replace', path: '/spec/triggers/0/metadata/serverAddress', value: options.prometheusUrl },
          ]),
        );
  }
  if (patches.length > 0) k.patches = patches;
  return { kustomization: k, dir };
}

/** The JSON pointer of the value that follows `flag` in the base coordinator's arguments. */
function coordinatorArgValue(dir: string, flag: string): string {
  const coordinator = build(join(dir, 'base')).find(
    (m) => m.kind === COORDINATOR.kind && m.metadata?.name === COORDINATOR.name,
  );
  const args: unknown[] = coordinator?.spec.template.spec.containers[0].args ?? [];
  const index = args.indexOf(flag);
  if (index < 0) throw new Error(`deploy/kubernetes/base: the coordinator has no ${flag} argument`);
  return `/spec/template/spec/containers/0/args/${index + 1}`;
}

function withTagSuffix(image: string, suffix: string): string {
  const { name, tag } = splitImage(image);
  return `${name}:${tag ?? 'latest'}${suffix}`;
}

function imageRule(name: string, image: string): NonNullable<Kustomization['images']>[number] {
  const parts = splitImage(image);
  if (!/^[a-z0-9]+([._/:-][a-z0-9]+)*$/i.test(parts.name))
    throw new UserError(`--image ${image}: not an image reference (REGISTRY/NAME[:TAG][@DIGEST])`);
  return {
    name,
    newName: parts.name,
    ...(parts.digest ? { digest: parts.digest } : { newTag: parts.tag ?? 'latest' }),
  };
}

/** The manifests for a provider, as `kubectl apply` takes them. */
export function renderManifests(options: RenderOptions): Manifest[] {
  if (options.karpenter && options.provider !== 'eks')
    throw new UserError('--karpenter goes with --provider eks (Karpenter NodePools are AWS resources)');
  const { kustomization, dir } = renderKustomization(options);
  const manifests = compose(kustomization, dir);
  return options.karpenter ? [...build(join(dir, 'karpenter')), ...manifests] : manifests;
}

/** Multi-document YAML, one `---` between manifests. */
export function toYaml(manifests: readonly Manifest[]): string {
  return manifests.map((m) => stringify(m, { lineWidth: 0 })).join('---\n');
}
