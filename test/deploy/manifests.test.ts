import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { CommanderError } from 'commander';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { PROVIDER_FACTS, PROVIDERS, type Provider } from '../../src/deploy/providers.js';
import { renderManifests } from '../../src/deploy/render.js';
import { PREEMPTED_EXIT_CODE } from '../../src/worker/preemption.js';
import { type Doc, parseCli, parseContainer } from './cli.js';
import { imageModelsDir } from './imageModels.js';

const DEPLOY = join(import.meta.dirname, '../../deploy');
const KUBERNETES = join(DEPLOY, 'kubernetes');

function yamlFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return yamlFiles(path);
    return name.endsWith('.yaml') ? [path] : [];
  });
}

/** The pod template's spec of a workload. */
function podSpec(doc: Doc): Doc {
  if (doc.kind === 'ScaledJob') return doc.spec.jobTargetRef.template.spec;
  return doc.spec.template.spec;
}

const WORKLOADS = ['Deployment', 'ScaledJob', 'Job'];
const pools = Object.fromEntries(PROVIDERS.map((p) => [p, renderManifests({ provider: p })])) as Record<
  Provider,
  Doc[]
>;
const chunkJobs = Object.fromEntries(
  PROVIDERS.map((p) => [p, renderManifests({ provider: p, chunkJob: true })]),
) as Record<Provider, Doc[]>;

function byName(docs: Doc[], kind: string, name: string): Doc {
  const found = docs.find((d) => d.kind === kind && d.metadata?.name === name);
  if (!found) throw new Error(`no ${kind} ${name}`);
  return found;
}

/** The node-affinity terms a pod may land on (OR of ANDs), as "key op values" strings. */
function requiredTerms(pod: Doc): string[][] {
  const terms =
    pod.affinity?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution?.nodeSelectorTerms ?? [];
  return terms.map((t: Doc) =>
    t.matchExpressions.map((e: Doc) => `${e.key} ${e.operator}${e.values ? ` ${e.values.join(',')}` : ''}`),
  );
}

describe('deploy/kubernetes', () => {
  it('parses every YAML file, without warnings', () => {
    const files = yamlFiles(KUBERNETES);
    expect(files.length).toBeGreaterThanOrEqual(20);
    for (const file of files) {
      const docs = parseAllDocuments(readFileSync(file, 'utf8'));
      for (const doc of Array.isArray(docs) ? docs : [docs])
        expect(
          [...doc.errors, ...doc.warnings].map((e) => e.message),
          file,
        ).toEqual([]);
    }
  });

  it.each(PROVIDERS)('renders the %s overlay as the expected kinds at their API versions', (provider) => {
    expect(pools[provider].map((d) => `${d.apiVersion} ${d.kind} ${d.metadata.name}`)).toEqual([
      'v1 Service spotfuse-coordinator',
      'apps/v1 Deployment spotfuse-coordinator',
      'apps/v1 Deployment spotfuse-worker-on-demand',
      'policy/v1 PodDisruptionBudget spotfuse-coordinator',
      'keda.sh/v1alpha1 ScaledJob spotfuse-worker-spot',
      'keda.sh/v1alpha1 ScaledObject spotfuse-worker-on-demand',
      'monitoring.coreos.com/v1 ServiceMonitor spotfuse-coordinator',
    ]);
    expect(chunkJobs[provider].map((d) => `${d.apiVersion} ${d.kind} ${d.metadata.name}`)).toEqual([
      'batch/v1 Job spotfuse-chunk',
    ]);
    for (const doc of [...pools[provider], ...chunkJobs[provider]]) {
      expect(doc.metadata.namespace).toBe('spotfuse');
      expect(doc.metadata.labels['app.kubernetes.io/part-of']).toBe('spotfuse');
    }
  });

  it.each(PROVIDERS)('%s: GPU limits, grace over the notice, zone spread, images with tags', (provider) => {
    const workloads = [...pools[provider], ...chunkJobs[provider]].filter((d) => WORKLOADS.includes(d.kind));
    expect(workloads).toHaveLength(4);
    for (const workload of workloads) {
      const pod = podSpec(workload);
      const name = `${workload.kind} ${workload.metadata.name}`;
      const spread = pod.topologySpreadConstraints;
      expect(spread, name).toHaveLength(1);
      expect(spread[0]).toMatchObject({ topologyKey: 'topology.kubernetes.io/zone', maxSkew: 1 });
      // The constraint counts the workload's own pods.
      const podLabels =
        workload.kind === 'ScaledJob'
          ? workload.spec.jobTargetRef.template.metadata.labels
          : workload.spec.template.metadata.labels;
      expect(podLabels, name).toMatchObject(spread[0].labelSelector.matchLabels);
      const [container] = pod.containers;
      expect(container.image, name).toMatch(/^spotfuse(-gpu)?:0\.1\.0$/);
      if (workload.metadata.name === 'spotfuse-coordinator') {
        expect(container.resources.limits['nvidia.com/gpu']).toBeUndefined();
        continue;
      }
      expect(container.image, name).toBe('spotfuse-gpu:0.1.0');
      expect(container.resources.limits['nvidia.com/gpu'], name).toBe(1);
      expect(
        pod.tolerations.map((t: Doc) => t.key),
        name,
      ).toContain('nvidia.com/gpu');
      expect(pod.terminationGracePeriodSeconds, name).toBeGreaterThanOrEqual(
        PROVIDER_FACTS[provider].noticeSeconds,
      );
    }
  });

  it.each(PROVIDERS)('%s: every container command line passes the real CLI parser', async (provider) => {
    const containers = [...pools[provider], ...chunkJobs[provider]]
      .filter((d) => WORKLOADS.includes(d.kind))
      .flatMap((d) => podSpec(d).containers.map((c: Doc) => ({ name: d.metadata.name, container: c })));
    expect(containers).toHaveLength(4);
    for (const { name, container } of containers) {
      expect(container.command, `${name}: the image's entrypoint is spotfuse`).toBeUndefined();
      // Any local user reads a command line (/proc/PID/cmdline): tokens come from the environment.
      expect(container.args, `${name}: a token on the command line`).not.toContain('--token');
      const { command, options } = await parseContainer(container);
      expect(command, name).toBe(name === 'spotfuse-coordinator' ? 'server' : 'worker');
      if (command === 'worker') expect(options.token, name).toMatch(/^secret-worker-token/);
    }
  });

  it('puts spot workers on each provider’s spot nodes and on-demand workers off them', () => {
    const spot = (p: Provider) => podSpec(byName(pools[p], 'ScaledJob', 'spotfuse-worker-spot'));
    const chunk = (p: Provider) => podSpec(byName(chunkJobs[p], 'Job', 'spotfuse-chunk'));
    const onDemand = (p: Provider) => podSpec(byName(pools[p], 'Deployment', 'spotfuse-worker-on-demand'));
    const tolerated = (pod: Doc) => pod.tolerations.map((t: Doc) => `${t.key}=${t.value ?? '*'}:${t.effect}`);

    for (const pod of [spot('gke'), chunk('gke')]) {
      expect(pod.nodeSelector).toEqual({ 'kubernetes.io/os': 'linux', 'cloud.google.com/gke-spot': 'true' });
      expect(tolerated(pod)).toEqual([
        'nvidia.com/gpu=*:NoSchedule',
        'cloud.google.com/gke-spot=true:NoSchedule',
      ]);
    }
    expect(requiredTerms(onDemand('gke'))).toEqual([['cloud.google.com/gke-spot DoesNotExist']]);

    for (const pod of [spot('aks'), chunk('aks')]) {
      expect(pod.nodeSelector['kubernetes.azure.com/scalesetpriority']).toBe('spot');
      expect(tolerated(pod)).toContain('kubernetes.azure.com/scalesetpriority=spot:NoSchedule');
    }
    expect(requiredTerms(onDemand('aks'))).toEqual([['kubernetes.azure.com/scalesetpriority DoesNotExist']]);

    // EKS: a spot managed node group, or any Karpenter node with spot preferred (on-demand as fallback).
    for (const pod of [spot('eks'), chunk('eks')]) {
      expect(requiredTerms(pod)).toEqual([
        ['eks.amazonaws.com/capacityType In SPOT'],
        ['karpenter.sh/capacity-type Exists'],
      ]);
      const [preferred] = pod.affinity.nodeAffinity.preferredDuringSchedulingIgnoredDuringExecution;
      expect(preferred.preference.matchExpressions).toEqual([
        { key: 'karpenter.sh/capacity-type', operator: 'In', values: ['spot'] },
      ]);
    }
    expect(requiredTerms(onDemand('eks'))).toEqual([
      ['eks.amazonaws.com/capacityType In ON_DEMAND'],
      ['karpenter.sh/capacity-type In on-demand'],
    ]);

    for (const pod of [spot('generic'), chunk('generic'), onDemand('generic')]) {
      expect(pod.nodeSelector).toEqual({ 'kubernetes.io/os': 'linux' });
      expect(pod.affinity).toBeUndefined();
    }
  });

  it('offers Karpenter a GPU NodePool that takes spot first and on-demand when spot runs dry', () => {
    const docs = renderManifests({ provider: 'eks', karpenter: true });
    const pool = byName(docs, 'NodePool', 'spotfuse-gpu');
    expect(pool.apiVersion).toBe('karpenter.sh/v1');
    expect(pool.metadata.namespace).toBeUndefined();
    const requirement = (key: string) =>
      pool.spec.template.spec.requirements.find((r: Doc) => r.key === key)?.values;
    expect(requirement('karpenter.sh/capacity-type')).toEqual(['spot', 'on-demand']);
    expect(requirement('karpenter.k8s.aws/instance-gpu-manufacturer')).toEqual(['nvidia']);
    expect(pool.spec.template.spec.taints).toEqual([{ key: 'nvidia.com/gpu', effect: 'NoSchedule' }]);
    const nodeClass = byName(docs, 'EC2NodeClass', pool.spec.template.spec.nodeClassRef.name);
    expect(nodeClass.apiVersion).toBe(`${pool.spec.template.spec.nodeClassRef.group}/v1`);
    expect(docs.slice(2)).toEqual(pools.eks);
  });

  it('runs the per-chunk Job once per task, with preemptions outside its backoff budget', async () => {
    for (const provider of PROVIDERS) {
      const job = byName(chunkJobs[provider], 'Job', 'spotfuse-chunk');
      expect(job.spec.backoffLimit).toBeGreaterThan(0);
      expect(job.spec.podFailurePolicy.rules).toEqual([
        { action: 'Ignore', onPodConditions: [{ type: 'DisruptionTarget', status: 'True' }] },
        {
          action: 'Ignore',
          onExitCodes: { containerName: 'worker', operator: 'In', values: [PREEMPTED_EXIT_CODE] },
        },
      ]);
      const pod = podSpec(job);
      // The API server accepts a podFailurePolicy only with restartPolicy Never.
      expect(pod.restartPolicy).toBe('Never');
      const [container] = pod.containers;
      const { command, options, args } = await parseContainer(container);
      expect(command).toBe('worker');
      expect(options).toMatchObject({ maxTasks: 1, pool: 'spot', workerId: 'pod-metadata.name' });
      expect(args).not.toContain('$(POD_NAME)');
    }
  });
});

describe('deploy/kubernetes base workloads', () => {
  const docs = pools.gke;
  it('runs the coordinator as probed, secret-configured replicas that keep merges and urgent work on demand', async () => {
    const deployment = byName(docs, 'Deployment', 'spotfuse-coordinator');
    expect(deployment.spec.replicas).toBe(2);
    const [container] = podSpec(deployment).containers;
    expect(container.readinessProbe.httpGet.path).toBe('/readyz');
    expect(container.livenessProbe.httpGet.path).toBe('/healthz');
    for (const name of ['SPOTFUSE_DB', 'SPOTFUSE_BLOB', 'SPOTFUSE_ADMIN_TOKEN'])
      expect(container.env.find((e: Doc) => e.name === name)?.valueFrom?.secretKeyRef?.name, name).toBe(
        'spotfuse',
      );
    const { command, options } = await parseContainer(container);
    expect(command).toBe('server');
    expect(options).toMatchObject({
      onDemandFor: 'merge,urgent',
      segmentRetention: 24 * 3600 * 1000,
      spotWaitLimit: 15 * 60 * 1000,
    });
    // Previews run in the coordinator, with the models of the image's SPOTFUSE_MODELS, which it never
    // downloads for a request: a volume where they can be put, and memory for a chain's weights.
    const mount = container.volumeMounts.find((m: Doc) => m.mountPath === imageModelsDir('Dockerfile'));
    expect(podSpec(deployment).volumes.find((v: Doc) => v.name === mount?.name)?.emptyDir).toBeDefined();
    expect(container.resources.limits.memory).toBe('4Gi');
    const service = byName(docs, 'Service', 'spotfuse-coordinator');
    expect(service.spec.selector).toEqual(deployment.spec.selector.matchLabels);
    expect(service.spec.ports[0].port).toBe(8080);
    const monitor = byName(docs, 'ServiceMonitor', 'spotfuse-coordinator');
    expect(monitor.spec.selector.matchLabels).toEqual({ 'app.kubernetes.io/name': 'spotfuse-coordinator' });
    expect(service.metadata.labels).toMatchObject(monitor.spec.selector.matchLabels);
    expect(monitor.spec.endpoints).toEqual([
      { port: service.spec.ports[0].name, path: '/metrics', interval: '15s' },
    ]);
  });

  it('runs spot workers as KEDA Jobs scaled on the queue depth, exiting when idle', async () => {
    const job = byName(docs, 'ScaledJob', 'spotfuse-worker-spot');
    const pod = podSpec(job);
    expect(pod.restartPolicy).toBe('Never');
    const { command, options } = await parseContainer(pod.containers[0]);
    expect(command).toBe('worker');
    expect(options).toMatchObject({
      server: 'http://spotfuse-coordinator:8080',
      pool: 'spot',
      exitWhenIdle: 60,
    });
    const [trigger] = job.spec.triggers;
    expect(trigger.type).toBe('prometheus');
    expect(trigger.metadata.query).toContain('spotfuse_queue_depth{pool="spot"}');

    const fallback = byName(docs, 'Deployment', 'spotfuse-worker-on-demand');
    expect((await parseContainer(podSpec(fallback).containers[0])).options).toMatchObject({
      pool: 'on-demand',
    });
    const scaler = byName(docs, 'ScaledObject', 'spotfuse-worker-on-demand');
    expect(scaler.spec.scaleTargetRef.name).toBe('spotfuse-worker-on-demand');
    expect(scaler.spec.triggers[0].metadata.query).toBe('max(sum by (instance) (spotfuse_on_demand_wanted))');
  });
});

describe('the CLI parser that checks the manifests', () => {
  it('refuses unknown flags and bad values, so the checks above mean something', async () => {
    const worker = ['worker', '--server', 'http://c:8080', '--token', 't'];
    await expect(parseCli([...worker, '--pool', 'spot'])).resolves.toMatchObject({ command: 'worker' });
    await expect(parseCli([...worker, '--exit-when-idle-seconds', '60'])).rejects.toBeInstanceOf(
      CommanderError,
    );
    await expect(parseCli([...worker, '--pool', 'preemptible'])).rejects.toBeInstanceOf(CommanderError);
    await expect(parseCli([...worker, '--max-tasks', '0'])).rejects.toBeInstanceOf(CommanderError);
    await expect(parseCli(['server', '--segment-retention', 'soon'])).rejects.toBeInstanceOf(CommanderError);
    await expect(parseCli(['server', '--abandoned-upload-age', '10m'])).rejects.toBeInstanceOf(
      CommanderError,
    );
    await expect(parseCli(['server', '--segment-retention', 'forever'])).resolves.toMatchObject({
      options: { segmentRetention: Number.POSITIVE_INFINITY, abandonedUploadAge: 24 * 3600 * 1000 },
    });
    await expect(parseCli(['server'], { SPOTFUSE_SEGMENT_RETENTION: '7d' })).resolves.toMatchObject({
      options: { segmentRetention: 7 * 24 * 3600 * 1000 },
    });
    await expect(parseCli(['k8s', 'render', '--provider', 'openshift'])).rejects.toBeInstanceOf(
      CommanderError,
    );
    await expect(parseCli(['k8s', 'render'])).rejects.toBeInstanceOf(CommanderError);
  });

  it('takes tenant limits from flags, then SPOTFUSE_* variables, then defaults', async () => {
    const limits = (options: Record<string, unknown>) => ({
      maxTasksPerJob: options.maxTasksPerJob,
      minChunkFrames: options.minChunkFrames,
      maxJobPixels: options.maxJobPixels,
      maxActiveJobs: options.maxActiveJobs,
      maxQueuedTasks: options.maxQueuedTasks,
    });
    expect(limits((await parseCli(['server'])).options)).toEqual({
      maxTasksPerJob: 10_000,
      minChunkFrames: 25,
      maxJobPixels: 4e12,
      maxActiveJobs: 20,
      maxQueuedTasks: 20_000,
    });
    const env = {
      SPOTFUSE_MAX_ACTIVE_JOBS: '5',
      SPOTFUSE_MAX_JOB_PIXELS: '1e9',
      SPOTFUSE_MIN_CHUNK_FRAMES: '50',
    };
    expect(
      limits(
        (await parseCli(['server', '--max-active-jobs', '7', '--max-tasks-per-job', '500'], env)).options,
      ),
    ).toEqual({
      maxTasksPerJob: 500,
      minChunkFrames: 50,
      maxJobPixels: 1e9,
      maxActiveJobs: 7,
      maxQueuedTasks: 20_000,
    });
    await expect(parseCli(['server', '--max-active-jobs', '0'])).rejects.toBeInstanceOf(CommanderError);
    await expect(parseCli(['server', '--min-chunk-frames', '2.5'])).rejects.toBeInstanceOf(CommanderError);
  });
});

describe('deploy/Dockerfile', () => {
  it('builds on node:20-bookworm-slim with Debian ffmpeg, production dependencies and spotfuse as entrypoint', () => {
    const dockerfile = readFileSync(join(DEPLOY, 'Dockerfile'), 'utf8');
    expect(dockerfile).toMatch(/^FROM node:20-bookworm-slim AS build$/m);
    expect(dockerfile).toMatch(/^ARG RUNTIME_BASE=node:20-bookworm-slim$/m);
    expect(dockerfile).toMatch(/apt-get install -y --no-install-recommends ffmpeg/);
    expect(dockerfile).toMatch(/npm ci --omit=dev --onnxruntime-node-install=\$\{ONNXRUNTIME_NODE_INSTALL\}/);
    expect(dockerfile).toMatch(/^ENTRYPOINT \["spotfuse"\]$/m);
    const pkg = JSON.parse(readFileSync(join(DEPLOY, '../package.json'), 'utf8'));
    expect(dockerfile).toContain(`ln -s /app/${pkg.bin.spotfuse} /usr/local/bin/spotfuse`);
    // What the npm package ships for `spotfuse k8s render`, the image has too.
    const shipped = pkg.files.filter((f: string) => f.startsWith('deploy/'));
    expect(shipped).toEqual(['deploy/kubernetes']);
    for (const path of shipped) expect(dockerfile).toContain(`COPY ${path} ${path}`);
    const ignored = readFileSync(join(DEPLOY, 'Dockerfile.dockerignore'), 'utf8').split('\n');
    expect(ignored.indexOf('!deploy/kubernetes')).toBeGreaterThan(ignored.indexOf('deploy'));
  });
});
