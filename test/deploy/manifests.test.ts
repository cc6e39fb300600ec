import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Command, CommanderError } from 'commander';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { registerClient } from '../../src/cli/client/commands.js';
import { registerFaces } from '../../src/cli/faces.js';
import { registerModels } from '../../src/cli/models.js';
import { registerRun } from '../../src/cli/run.js';
import { registerServer } from '../../src/cli/server.js';
import { registerSimulate } from '../../src/cli/simulate.js';
import { registerWorker } from '../../src/cli/worker.js';

const DEPLOY = join(import.meta.dirname, '../../deploy');
const MANIFESTS = join(DEPLOY, 'kubernetes');

// biome-ignore lint/suspicious/noExplicitAny: manifests are free-form YAML
type Doc = Record<string, any>;

function documents(file: string): Doc[] {
  const parsed = parseAllDocuments(readFileSync(join(MANIFESTS, file), 'utf8'));
  if (!Array.isArray(parsed)) throw new Error(`${file}: no YAML documents`);
  return parsed.map((doc, i) => {
    const problems = [...doc.errors, ...doc.warnings].map((e) => e.message);
    if (problems.length > 0) throw new Error(`${file} document ${i + 1}: ${problems.join('; ')}`);
    return doc.toJS() as Doc;
  });
}

const files = readdirSync(MANIFESTS).filter((f) => f.endsWith('.yaml'));
const all = files.flatMap((file) => documents(file).map((doc) => ({ file, doc })));
const byName = (kind: string, name: string): Doc => {
  const found = all.find((d) => d.doc.kind === kind && d.doc.metadata?.name === name);
  if (!found) throw new Error(`no ${kind} ${name}`);
  return found.doc;
};

/** The pod template's spec of a workload. */
function podSpec(doc: Doc): Doc {
  if (doc.kind === 'ScaledJob') return doc.spec.jobTargetRef.template.spec;
  return doc.spec.template.spec;
}

/** A container's environment as the process would see it; secret values are stand-ins. */
function containerEnv(container: Doc): Record<string, string> {
  return Object.fromEntries(
    (container.env ?? []).map((e: Doc) => [
      e.name,
      e.value ?? `secret-${e.valueFrom?.secretKeyRef?.key}-0123456789abcdef`,
    ]),
  );
}

/**
 * Parses a `spotfuse` command line with the real program (every command main.ts registers), under
 * `env`, without running the command: returns the command's name and its parsed options.
 */
async function parseCli(args: string[], env: Record<string, string> = {}) {
  const saved = new Map(Object.keys(env).map((k) => [k, process.env[k]]));
  Object.assign(process.env, env);
  try {
    const program = new Command('spotfuse')
      .exitOverride()
      .configureOutput({ writeOut: () => {}, writeErr: () => {} });
    for (const register of [
      registerRun,
      registerWorker,
      registerServer,
      registerClient,
      registerModels,
      registerFaces,
      registerSimulate,
    ])
      register(program);
    let parsed: { command: string; options: Record<string, unknown> } | undefined;
    const stubActions = (command: Command) => {
      for (const sub of command.commands) {
        sub.action(() => {
          parsed = { command: sub.name(), options: sub.opts() };
        });
        stubActions(sub);
      }
    };
    stubActions(program);
    await program.parseAsync(args, { from: 'user' });
    if (!parsed) throw new Error(`no command ran for: spotfuse ${args.join(' ')}`);
    return parsed;
  } finally {
    for (const [k, v] of saved) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  }
}

const EXPECTED: Record<string, string[]> = {
  'kustomization.yaml': ['kustomize.config.k8s.io/v1beta1 Kustomization'],
  'secret.example.yaml': ['v1 Secret'],
  'coordinator.yaml': ['apps/v1 Deployment', 'v1 Service', 'policy/v1 PodDisruptionBudget'],
  'worker-spot.yaml': ['keda.sh/v1alpha1 ScaledJob'],
  'worker-on-demand.yaml': ['apps/v1 Deployment', 'keda.sh/v1alpha1 ScaledObject'],
};

describe('deploy/kubernetes', () => {
  it('holds the expected kinds at their API versions, every document parsed', () => {
    expect(files.sort()).toEqual(Object.keys(EXPECTED).sort());
    for (const file of files)
      expect(
        documents(file).map((d) => `${d.apiVersion} ${d.kind}`),
        file,
      ).toEqual(EXPECTED[file]);
    const [kustomization] = documents('kustomization.yaml');
    expect(kustomization.resources.sort()).toEqual(
      files.filter((f) => f !== 'kustomization.yaml' && !f.includes('.example.')).sort(),
    );
  });

  it('runs every container command line through the real CLI parser', async () => {
    const containers = all
      .filter(({ doc }) => ['Deployment', 'ScaledJob'].includes(doc.kind))
      .flatMap(({ file, doc }) => podSpec(doc).containers.map((c: Doc) => ({ file, container: c })));
    expect(containers.length).toBe(3);
    for (const { file, container } of containers) {
      expect(container.command, `${file}: the image's entrypoint is spotfuse`).toBeUndefined();
      expect(container.image).toMatch(/^spotfuse/);
      const args = container.args.map(String);
      // Any local user reads a command line (/proc/PID/cmdline): tokens come from the environment.
      expect(args, `${file}: a token on the command line`).not.toContain('--token');
      await expect(
        parseCli(args, containerEnv(container)),
        `${file}: ${args.join(' ')}`,
      ).resolves.toBeDefined();
    }
  });

  it('refuses unknown flags and bad values, so the check above means something', async () => {
    const worker = ['worker', '--server', 'http://c:8080', '--token', 't'];
    await expect(parseCli([...worker, '--pool', 'spot'])).resolves.toMatchObject({ command: 'worker' });
    await expect(parseCli([...worker, '--exit-when-idle-seconds', '60'])).rejects.toBeInstanceOf(
      CommanderError,
    );
    await expect(parseCli([...worker, '--pool', 'preemptible'])).rejects.toBeInstanceOf(CommanderError);
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

  it('runs the coordinator as probed, secret-configured replicas that keep merges and urgent work on demand', async () => {
    const deployment = byName('Deployment', 'spotfuse-coordinator');
    expect(deployment.spec.replicas).toBe(2);
    const [container] = podSpec(deployment).containers;
    expect(container.readinessProbe.httpGet.path).toBe('/readyz');
    expect(container.livenessProbe.httpGet.path).toBe('/healthz');
    for (const name of ['SPOTFUSE_DB', 'SPOTFUSE_BLOB', 'SPOTFUSE_ADMIN_TOKEN'])
      expect(container.env.find((e: Doc) => e.name === name)?.valueFrom?.secretKeyRef?.name, name).toBe(
        'spotfuse',
      );
    const { command, options } = await parseCli(container.args, containerEnv(container));
    expect(command).toBe('server');
    expect(options).toMatchObject({ onDemandFor: 'merge,urgent', segmentRetention: 24 * 3600 * 1000 });
    const service = byName('Service', 'spotfuse-coordinator');
    expect(service.spec.selector).toEqual(deployment.spec.selector.matchLabels);
    expect(service.spec.ports[0].port).toBe(8080);
  });

  it('runs spot workers as KEDA Jobs on spot GPU nodes, scaled on the queue depth, exiting when idle', async () => {
    const job = byName('ScaledJob', 'spotfuse-worker-spot');
    const pod = podSpec(job);
    expect(pod.terminationGracePeriodSeconds).toBeGreaterThanOrEqual(120);
    expect(pod.restartPolicy).toBe('Never');
    expect(pod.nodeSelector).toEqual({ 'cloud.google.com/gke-spot': 'true' });
    expect(pod.tolerations.map((t: Doc) => t.key)).toContain('cloud.google.com/gke-spot');
    const [container] = pod.containers;
    expect(container.resources.limits['nvidia.com/gpu']).toBe(1);
    const { command, options } = await parseCli(container.args, containerEnv(container));
    expect(command).toBe('worker');
    expect(options).toMatchObject({
      server: 'http://spotfuse-coordinator:8080',
      pool: 'spot',
      exitWhenIdle: 60,
    });
    expect(options.token).toMatch(/^secret-worker-token/);
    const [trigger] = job.spec.triggers;
    expect(trigger.type).toBe('prometheus');
    expect(trigger.metadata.query).toContain('spotfuse_queue_depth{pool="spot"}');

    const fallback = byName('Deployment', 'spotfuse-worker-on-demand');
    const onDemand = podSpec(fallback).containers[0];
    expect(onDemand.resources.limits['nvidia.com/gpu']).toBe(1);
    expect((await parseCli(onDemand.args, containerEnv(onDemand))).options).toMatchObject({
      pool: 'on-demand',
    });
    const scaler = byName('ScaledObject', 'spotfuse-worker-on-demand');
    expect(scaler.spec.scaleTargetRef.name).toBe('spotfuse-worker-on-demand');
    expect(scaler.spec.triggers[0].metadata.query).toContain('spotfuse_queue_depth{pool="on-demand"}');
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
  });
});
