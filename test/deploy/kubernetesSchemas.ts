import * as keda from '@kubernetes-models/keda';
import * as prometheusOperator from '@kubernetes-models/prometheus-operator';
import * as kubernetes from 'kubernetes-models';
import { NodeSelectorRequirement, Taint } from 'kubernetes-models/v1';
import type { Manifest } from '../../src/deploy/kustomize.js';

/**
 * Checks a manifest against the schema of its kind: the API server's (kubernetes-models), KEDA's
 * (@kubernetes-models/keda) and the Prometheus operator's (@kubernetes-models/prometheus-operator).
 *
 * Those schemas, like the OpenAPI documents they come from, let any unknown field through, where the API
 * server's strict field validation (kubectl's default) refuses it. So each validator runs on a proxy of the
 * document that notes which fields it reads: a field of an object whose fields the schema looks at, that
 * the schema never reads, is unknown to it (a misspelling such as `replica:`).
 */
interface Validator {
  validate(this: unknown): void;
}
interface ModelClass {
  apiVersion: string;
  kind: string;
  prototype: Validator;
}

/** Kinds that are no API object: kustomize reads them, the cluster never sees them. */
const KUSTOMIZE_KINDS = new Set([
  'kustomize.config.k8s.io/v1beta1 Kustomization',
  'kustomize.config.k8s.io/v1alpha1 Component',
]);

/** A part of a document, checked as a type of its own: its name, the type's model, the value. */
type Part = [string, Validator, unknown];

/**
 * Karpenter's kinds have no model that runs on Node 20 (@kubernetes-models/karpenter needs Node 22, and
 * holds its schemas compiled to code) and no npm package ships their CRDs, so only the core Kubernetes types
 * a NodePool embeds are checked: its taints and its requirements (a NodeSelectorRequirement plus
 * Karpenter's minValues). The rest of a NodePool, and an EC2NodeClass, are not schema-checked
 * (test/deploy/manifests.test.ts asserts their content).
 */
const PARTLY_CHECKED: Record<string, (doc: Manifest) => Part[]> = {
  'karpenter.sh/v1 NodePool': (doc) => {
    const spec = doc.spec?.template?.spec ?? {};
    const taints: Manifest[] = [...(spec.taints ?? []), ...(spec.startupTaints ?? [])];
    const requirements: Manifest[] = spec.requirements ?? [];
    return [
      ...taints.map((taint, i): Part => [`taint ${i}`, Taint.prototype, taint]),
      ...requirements.map(
        ({ minValues: _, ...requirement }, i): Part => [
          `requirement ${i}`,
          NodeSelectorRequirement.prototype,
          requirement,
        ],
      ),
    ];
  },
  'karpenter.k8s.aws/v1 EC2NodeClass': () => [],
};

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

export const MODELS = modelsOf(kubernetes, keda, prometheusOperator);

const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/**
 * Runs validator on value; the schema's errors, then the fields it never read, one string each. (A field
 * whose schema allows anything is not read either, and would count as unknown: none is in these manifests.)
 */
function check(validator: Validator, value: unknown): string[] {
  const read = new WeakMap<object, Set<PropertyKey>>();
  const proxies = new WeakMap<object, unknown>();
  const note = (target: object, key: PropertyKey) => {
    const keys = read.get(target) ?? new Set();
    read.set(target, keys.add(key));
  };
  const track = (v: unknown): unknown => {
    if (typeof v !== 'object' || v === null) return v;
    let proxy = proxies.get(v);
    if (!proxy) {
      proxy = new Proxy(v, {
        get: (target, key) => {
          note(target, key);
          return track(Reflect.get(target, key));
        },
        has: (target, key) => {
          note(target, key);
          return Reflect.has(target, key);
        },
      });
      proxies.set(v, proxy);
    }
    return proxy;
  };
  const errors: string[] = [];
  try {
    validator.validate.call(track(value));
  } catch (error) {
    errors.push((error as Error).message);
  }
  const unknown = (v: unknown, path: string): string[] => {
    if (Array.isArray(v)) return v.flatMap((item, i) => unknown(item, `${path}[${i}]`));
    if (!isObject(v)) return [];
    const keys = read.get(v);
    return Object.entries(v).flatMap(([key, field]) => {
      const at = path ? `${path}.${key}` : key;
      return keys && !keys.has(key) ? [`unknown field ${at}`] : unknown(field, at);
    });
  };
  return [...errors, ...unknown(value, '')];
}

/** The schema violations of one document, each a line naming where it came from; none when valid. */
export function violations(source: string, doc: Manifest): string[] {
  const type = `${doc.apiVersion} ${doc.kind}`;
  const where = `${source}: ${doc.kind} ${doc.metadata?.name}`;
  if (KUSTOMIZE_KINDS.has(type)) return [];
  const Model = MODELS.get(type);
  if (Model) return check(Model.prototype, doc).map((v) => `${where}: ${v}`);
  const parts = PARTLY_CHECKED[type];
  if (!parts) return [`${where}: no schema for ${type}`];
  return parts(doc).flatMap(([part, validator, value]) =>
    check(validator, value).map((v) => `${where}: ${part}: ${v}`),
  );
}
