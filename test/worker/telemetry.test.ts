import { chmodSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import type { FastifyInstance } from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import { buildApi } from '../../src/api/server.js';
import { LocalBlobStore } from '../../src/blob/localBlobStore.js';
import { LeaseService } from '../../src/coordinator/leaseService.js';
import { SqliteStore } from '../../src/store/sqliteStore.js';
import { DEFAULT_FACE_OPTIONS } from '../../src/vision/faceOptions.js';
import { startHeartbeat } from '../../src/worker/heartbeat.js';
import { LeaseClient } from '../../src/worker/leaseClient.js';
import {
  gpuTelemetry,
  instanceInfo,
  NVIDIA_SMI_ARGS,
  parseNvidiaSmi,
  startGpuSampler,
  summarizeGpus,
} from '../../src/worker/telemetry.js';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

// What `nvidia-smi --query-gpu=utilization.gpu,memory.used,memory.total --format=csv,noheader,nounits` prints.
const ONE_GPU = '87, 6144, 23028\n';
const FOUR_GPUS = '100, 40000, 81559\n50, 20000, 81559\n0, 4, 81559\n2, 1200, 81559\n';
// A MIG-enabled A100 has no utilisation reading; a lost GPU reports errors in every field.
const MIG_AND_LOST = '[N/A], 3000, 40960\n[GPU is lost], [GPU is lost], [GPU is lost]\n';

/** A directory holding an executable `nvidia-smi` with this shell body, for PATH. */
function fakeNvidiaSmi(body: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'spotfuse-smi-'));
  const path = join(dir, 'nvidia-smi');
  writeFileSync(path, `#!/bin/sh\n${body}\n`);
  chmodSync(path, 0o755);
  return dir;
}

describe('nvidia-smi output', () => {
  it('reads every GPU line', () => {
    expect(parseNvidiaSmi(ONE_GPU)).toEqual([
      { utilization: 87, memoryUsedMiB: 6144, memoryTotalMiB: 23028 },
    ]);
    expect(parseNvidiaSmi(FOUR_GPUS)).toHaveLength(4);
    expect(parseNvidiaSmi(FOUR_GPUS.replaceAll('\n', '\r\n'))[3]).toEqual({
      utilization: 2,
      memoryUsedMiB: 1200,
      memoryTotalMiB: 81559,
    });
  });

  it('leaves out readings the GPU has not got, and lines that are no readings at all', () => {
    expect(parseNvidiaSmi(MIG_AND_LOST)).toEqual([
      { utilization: undefined, memoryUsedMiB: 3000, memoryTotalMiB: 40960 },
    ]);
    expect(parseNvidiaSmi('')).toEqual([]);
    expect(
      parseNvidiaSmi('NVIDIA-SMI has failed because it could not communicate with the driver.\n'),
    ).toEqual([]);
    expect(parseNvidiaSmi('150, -1, 1e9\n')).toEqual([]);
  });

  it('sums memory and averages utilisation over the GPUs', () => {
    expect(summarizeGpus(parseNvidiaSmi(ONE_GPU))).toEqual({
      gpuUtilization: 87,
      gpuMemoryUsedMiB: 6144,
      gpuMemoryTotalMiB: 23028,
    });
    expect(summarizeGpus(parseNvidiaSmi(FOUR_GPUS))).toEqual({
      gpuUtilization: 38,
      gpuMemoryUsedMiB: 61204,
      gpuMemoryTotalMiB: 4 * 81559,
    });
    expect(summarizeGpus(parseNvidiaSmi(MIG_AND_LOST))).toEqual({
      gpuMemoryUsedMiB: 3000,
      gpuMemoryTotalMiB: 40960,
    });
    expect(summarizeGpus([])).toBeUndefined();
  });
});

describe('gpuTelemetry', () => {
  it('is undefined where there is no nvidia-smi', async () => {
    const empty = mkdtempSync(join(tmpdir(), 'spotfuse-nopath-'));
    expect(await gpuTelemetry({ env: { PATH: empty } })).toBeUndefined();
    const sampler = startGpuSampler({ env: { PATH: empty }, intervalMs: 10 });
    cleanups.push(() => sampler.stop());
    await delay(100);
    expect(sampler.latest()).toBeUndefined();
  });

  it('runs nvidia-smi with the query and reads its answer', async () => {
    const dir = fakeNvidiaSmi(
      `[ "$1 $2" = "${NVIDIA_SMI_ARGS.join(' ')}" ] || { echo "bad args: $*" >&2; exit 2; }\nprintf '${FOUR_GPUS.replaceAll('\n', '\\n')}'`,
    );
    expect(await gpuTelemetry({ env: { PATH: dir } })).toHaveLength(4);
    const sampler = startGpuSampler({ env: { PATH: dir }, intervalMs: 10 });
    cleanups.push(() => sampler.stop());
    await expect.poll(() => sampler.latest()).toMatchObject({ gpuUtilization: 38, gpuMemoryUsedMiB: 61204 });
  });

  it('is undefined when nvidia-smi fails or hangs', async () => {
    expect(await gpuTelemetry({ env: { PATH: fakeNvidiaSmi(`echo '${ONE_GPU}'; exit 9`) } })).toBeUndefined();
    const started = Date.now();
    expect(
      await gpuTelemetry({ env: { PATH: fakeNvidiaSmi('exec sleep 10') }, timeoutMs: 200 }),
    ).toBeUndefined();
    expect(Date.now() - started).toBeLessThan(5000);
  });
});

describe('instanceInfo', () => {
  it("takes the cloud's facts, and the lifecycle from the pool where the metadata does not tell", () => {
    expect(
      instanceInfo(
        { cloud: 'aws', instanceType: 'g5.xlarge', zone: 'us-east-1a', lifecycle: 'spot' },
        'on-demand',
      ),
    ).toEqual({ cloud: 'aws', instanceType: 'g5.xlarge', zone: 'us-east-1a', lifecycle: 'spot' });
    expect(
      instanceInfo(
        {
          cloud: 'alibaba',
          instanceType: 'ecs.gn7i-c8g1.2xlarge',
          zone: 'cn-hangzhou-i',
          lifecycle: undefined,
        },
        'spot',
      ),
    ).toEqual({
      cloud: 'alibaba',
      instanceType: 'ecs.gn7i-c8g1.2xlarge',
      zone: 'cn-hangzhou-i',
      lifecycle: 'spot',
    });
    expect(instanceInfo(undefined, 'on-demand')).toEqual({ lifecycle: 'on-demand' });
  });

  it('drops facts the coordinator would refuse, so that they cannot cost the claim', () => {
    expect(
      instanceInfo(
        { cloud: 'gcp', instanceType: 'odd type', zone: 'z'.repeat(101), lifecycle: undefined },
        'spot',
      ),
    ).toEqual({ cloud: 'gcp', lifecycle: 'spot' });
  });
});

describe('worker telemetry over the lease protocol', () => {
  it('claims with the instance and heartbeats with GPU readings, and the attempt row keeps them', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'spotfuse-telemetry-'));
    const store = new SqliteStore(join(dir, 'state.db'));
    const leases = new LeaseService(store, new LocalBlobStore(join(dir, 'blobs')), {
      leaseTtlMs: 600,
      maxAttempts: 3,
    });
    const app: FastifyInstance = buildApi({ leases, workerToken: 'secret' });
    cleanups.push(() => store.close());
    cleanups.push(() => app.close());
    const job = await store.createJob(
      {
        key: 'k',
        spec: {
          input: '/in.mp4',
          sources: [],
          output: '/out.mp4',
          processors: ['passthrough'],
          face: DEFAULT_FACE_OPTIONS,
          encoder: { encoder: 'libx264', quality: 80, preset: 'veryfast' },
          checkpointFrames: 10,
        },
        probe: {},
        framePts: [0, 1, 2],
        chunks: [{ start: 0, end: 3 }],
      },
      Date.now(),
    );
    const address = await app.listen({ host: '127.0.0.1', port: 0 });
    const client = new LeaseClient(address, 'secret');
    const instance = instanceInfo(
      { cloud: 'azure', instanceType: 'Standard_NC4as_T4_v3', zone: 'westeurope-1', lifecycle: 'spot' },
      'spot',
    );
    const claim = (await client.claim('w1', 'spot', instance))!;
    const gpu = summarizeGpus(parseNvidiaSmi(ONE_GPU));
    const controller = new AbortController();
    const stop = startHeartbeat(
      client,
      claim.task,
      claim.leaseTtlMs,
      { framesDone: 2 },
      controller,
      () => gpu,
    );
    cleanups.push(stop);
    await expect
      .poll(async () => (await store.listAttempts(job.id))[0], { timeout: 3000 })
      .toMatchObject({
        cloud: 'azure',
        instanceType: 'Standard_NC4as_T4_v3',
        zone: 'westeurope-1',
        lifecycle: 'spot',
        framesDone: 2,
        gpuUtilization: 87,
        gpuMemoryUsedMiB: 6144,
        gpuMemoryTotalMiB: 23028,
      });
    expect(controller.signal.aborted).toBe(false);
  });
});
