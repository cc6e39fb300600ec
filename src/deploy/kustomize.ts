import { existsSync, readFileSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parse, parseAllDocuments } from 'yaml';
import { UserError } from '../core/errors.js';
import { applyJsonPatch, type PatchOperation } from './jsonPatch.js';

// biome-ignore lint/suspicious/noExplicitAny: Kubernetes objects are free-form
export type Manifest = Record<string, any>;

export interface PatchTarget {
  group?: string;
  version?: string;
  kind?: string;
  name?: string;
  namespace?: string;
  labelSelector?: string;
}

/**
 * The part of kustomize's Kustomization (and Component) that spotfuse's overlays use. `compose` applies it
 * as `kustomize build` does; a field outside this subset is refused rather than ignored, so the render
 * command can never print something other than what `kubectl apply -k` would apply.
 */
export interface Kustomization {
  apiVersion?: string;
  kind?: 'Kustomization' | 'Component';
  resources?: string[];
  components?: string[];
  namespace?: string;
  labels?: { pairs: Record<string, string>; includeSelectors?: boolean; includeTemplates?: boolean }[];
  images?: { name: string; newName?: string; newTag?: string; digest?: string }[];
  /** JSON 6902 patches only (a YAML list of operations), from a file (`path`) or inline (`patch`). */
  patches?: { path?: string; patch?: string; target?: PatchTarget }[];
}

const KNOWN_FIELDS = new Set([
  'apiVersion',
  'kind',
  'resources',
  'components',
  'namespace',
  'labels',
  'images',
  'patches',
]);

/** Built-in kinds that have no namespace (kustomize leaves them alone; custom kinds get one). */
const CLUSTER_SCOPED = new Set([
  'Namespace',
  'Node',
  'PersistentVolume',
  'StorageClass',
  'PriorityClass',
  'RuntimeClass',
  'ClusterRole',
  'ClusterRoleBinding',
  'CustomResourceDefinition',
  'MutatingWebhookConfiguration',
  'ValidatingWebhookConfiguration',
  'APIService',
  'IngressClass',
  'CSIDriver',
]);

/** kustomize's legacy output order (api/resid/gvk.go): these kinds first, in this order, … */
const ORDER_FIRST = [
  'Namespace',
  'ResourceQuota',
  'StorageClass',
  'CustomResourceDefinition',
  'ServiceAccount',
  'PodSecurityPolicy',
  'Role',
  'ClusterRole',
  'RoleBinding',
  'ClusterRoleBinding',
  'ConfigMap',
  'Secret',
  'Endpoints',
  'Service',
  'LimitRange',
  'PriorityClass',
  'PersistentVolume',
  'PersistentVolumeClaim',
  'Deployment',
  'StatefulSet',
  'CronJob',
  'PodDisruptionBudget',
];
/** … these last. */
const ORDER_LAST = ['MutatingWebhookConfiguration', 'ValidatingWebhookConfiguration'];

function kindRank(kind: string): number {
  const first = ORDER_FIRST.indexOf(kind);
  if (first >= 0) return first - ORDER_FIRST.length;
  const last = ORDER_LAST.indexOf(kind);
  return last >= 0 ? last + 1 : 0;
}

function groupVersion(manifest: Manifest): { group: string; version: string } {
  const apiVersion = String(manifest.apiVersion ?? '');
  const slash = apiVersion.lastIndexOf('/');
  return slash < 0
    ? { group: '', version: apiVersion }
    : { group: apiVersion.slice(0, slash), version: apiVersion.slice(slash + 1) };
}

/** kustomize's Gvk.String(), namespace and name: the tie-breakers of the legacy order ("~" for none). */
function sortKey(manifest: Manifest): string[] {
  const { group, version } = groupVersion(manifest);
  const gvk = `${group || '~G'}_${version || '~V'}_${manifest.kind || '~K'}`;
  return [gvk, manifest.metadata?.namespace || '~X', manifest.metadata?.name ?? ''];
}

/** Orders manifests as `kustomize build` prints them. */
export function legacyOrder(manifests: readonly Manifest[]): Manifest[] {
  const compare = (a: Manifest, b: Manifest): number => {
    const rank = kindRank(a.kind) - kindRank(b.kind);
    if (rank !== 0) return rank;
    const [ka, kb] = [sortKey(a), sortKey(b)];
    for (let i = 0; i < ka.length; i++) if (ka[i] !== kb[i]) return ka[i] < kb[i] ? -1 : 1;
    return 0;
  };
  return [...manifests].sort(compare);
}

function parseDocuments(text: string, origin: string): Manifest[] {
  return parseAllDocuments(text).flatMap((doc, i) => {
    const problems = [...doc.errors, ...doc.warnings].map((e) => e.message);
    if (problems.length > 0) throw new UserError(`${origin} document ${i + 1}: ${problems.join('; ')}`);
    const value = doc.toJS();
    if (value === null || value === undefined) return [];
    if (typeof value !== 'object' || Array.isArray(value) || !value.kind)
      throw new UserError(`${origin} document ${i + 1}: not a Kubernetes object`);
    return [value as Manifest];
  });
}

/** Reads dir/kustomization.yaml, checking that it stays inside the subset `compose` implements. */
export function loadKustomization(dir: string): Kustomization {
  const file = join(dir, 'kustomization.yaml');
  if (!existsSync(file)) throw new UserError(`${dir}: no kustomization.yaml`);
  const kustomization = parse(readFileSync(file, 'utf8')) as Kustomization;
  checkKustomization(kustomization, file);
  return kustomization;
}

function checkKustomization(k: Kustomization, origin: string): void {
  for (const field of Object.keys(k))
    if (!KNOWN_FIELDS.has(field))
      throw new UserError(`${origin}: kustomize field "${field}" is not supported`);
  for (const label of k.labels ?? [])
    if (label.includeSelectors || label.includeTemplates)
      throw new UserError(`${origin}: labels with includeSelectors or includeTemplates are not supported`);
}

function selects(target: PatchTarget, manifest: Manifest): boolean {
  const { group, version } = groupVersion(manifest);
  const exact = (pattern: string, value: string) => new RegExp(`^(?:${pattern})$`).test(value);
  if (target.group !== undefined && target.group !== group) return false;
  if (target.version !== undefined && target.version !== version) return false;
  if (target.kind !== undefined && !exact(target.kind, manifest.kind)) return false;
  if (target.name !== undefined && !exact(target.name, manifest.metadata?.name ?? '')) return false;
  if (target.namespace !== undefined && !exact(target.namespace, manifest.metadata?.namespace ?? ''))
    return false;
  if (target.labelSelector !== undefined) {
    const labels: Record<string, string> = manifest.metadata?.labels ?? {};
    for (const term of target.labelSelector.split(',')) {
      const [key, value] = term.split('=').map((s) => s.trim());
      if (labels[key] !== value) return false;
    }
  }
  return true;
}

function patchOperations(text: string, origin: string): PatchOperation[] {
  const operations = parse(text);
  if (!Array.isArray(operations))
    throw new UserError(`${origin}: only JSON 6902 patches (a list of operations) are supported`);
  return operations as PatchOperation[];
}

/** Any `containers`/`initContainers` list anywhere in the object, as kustomize's image filter finds them. */
function setImages(node: unknown, images: NonNullable<Kustomization['images']>): void {
  if (Array.isArray(node)) {
    for (const item of node) setImages(item, images);
    return;
  }
  if (typeof node !== 'object' || node === null) return;
  for (const [key, value] of Object.entries(node)) {
    if ((key === 'containers' || key === 'initContainers') && Array.isArray(value))
      for (const container of value)
        if (typeof container?.image === 'string') container.image = newImage(container.image, images);
    setImages(value, images);
  }
}

/** "registry:5000/app:1.2@sha256:…" → name "registry:5000/app", tag "1.2", digest "sha256:…". */
export function splitImage(image: string): { name: string; tag?: string; digest?: string } {
  const at = image.indexOf('@');
  const digest = at >= 0 ? image.slice(at + 1) : undefined;
  const rest = at >= 0 ? image.slice(0, at) : image;
  const colon = rest.lastIndexOf(':');
  if (colon > rest.lastIndexOf('/'))
    return { name: rest.slice(0, colon), tag: rest.slice(colon + 1), digest };
  return { name: rest, digest };
}

function newImage(image: string, images: NonNullable<Kustomization['images']>): string {
  const current = splitImage(image);
  const rule = images.find((i) => i.name === current.name);
  if (!rule) return image;
  const name = rule.newName ?? current.name;
  if (rule.digest) return `${name}@${rule.digest}`;
  if (rule.newTag) return `${name}:${rule.newTag}`;
  return `${name}${current.tag ? `:${current.tag}` : ''}${current.digest ? `@${current.digest}` : ''}`;
}

/** Resources, then components (each transforming all that came before), then this layer's transformers. */
function accumulate(k: Kustomization, dir: string, initial: Manifest[]): Manifest[] {
  let list = [...initial];
  for (const resource of k.resources ?? []) {
    const path = resolve(dir, resource);
    if (!existsSync(path)) throw new UserError(`${join(dir, 'kustomization.yaml')}: no resource ${resource}`);
    if (statSync(path).isDirectory()) list.push(...accumulate(loadKustomization(path), path, []));
    else list.push(...parseDocuments(readFileSync(path, 'utf8'), path));
  }
  for (const component of k.components ?? []) {
    const path = resolve(dir, component);
    const loaded = loadKustomization(path);
    if (loaded.kind !== 'Component') throw new UserError(`${path}: not a kustomize Component`);
    list = accumulate(loaded, path, list);
  }
  // kustomize's order of built-in transformers: patches, namespace, labels, images.
  for (const [i, entry] of (k.patches ?? []).entries()) {
    const origin = `${join(dir, 'kustomization.yaml')} patch ${i + 1}`;
    const text = entry.path ? readFileSync(resolve(dir, entry.path), 'utf8') : entry.patch;
    if (text === undefined) throw new UserError(`${origin}: neither path nor patch`);
    if (!entry.target) throw new UserError(`${origin}: a JSON 6902 patch needs a target`);
    const operations = patchOperations(text, origin);
    const target = entry.target;
    list = list.map((m) => (selects(target, m) ? applyJsonPatch(m, operations) : m));
  }
  if (k.namespace)
    for (const m of list)
      if (!CLUSTER_SCOPED.has(m.kind)) {
        m.metadata ??= {};
        m.metadata.namespace = k.namespace;
      }
  for (const { pairs } of k.labels ?? [])
    for (const m of list) {
      m.metadata ??= {};
      m.metadata.labels = { ...m.metadata.labels, ...pairs };
    }
  if (k.images?.length) setImages(list, k.images);
  return list;
}

/** `kustomize build` of a kustomization held in memory, whose relative paths start at `dir`. */
export function compose(k: Kustomization, dir: string): Manifest[] {
  checkKustomization(k, 'kustomization');
  return legacyOrder(accumulate(k, dir, []));
}

/** `kustomize build DIR`. */
export function build(dir: string): Manifest[] {
  return compose(loadKustomization(dir), dir);
}
