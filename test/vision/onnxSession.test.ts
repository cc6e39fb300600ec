import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { InferenceSession } from 'onnxruntime-node';
import { describe, expect, it, vi } from 'vitest';
import { UserError } from '../../src/core/errors.js';
import {
  fromFloat16Bits,
  openSession,
  outputFloat32,
  providerInstalled,
  runNamed,
  runSession,
  sessionOptions,
  toFloat16Bits,
} from '../../src/vision/onnx.js';
import { float16Bits, OnnxGraph } from '../helpers/onnx/graph.js';
import { useTempDir } from '../helpers/tempDir.js';

const dir = useTempDir();

/** y = 2·x + w: x float16 [1, 4] (cast up), w float64 [1] (cast down); y float32 and a float16 copy. */
async function writeMixedModel(): Promise<string> {
  const g = new OnnxGraph('mixed');
  const x = g.input('x', 'float16', [1, 4]);
  const w = g.input('w', 'float64', [1]);
  const sum = g.op('Add', [
    g.op('Mul', [g.op('Cast', [x], { to: 1 }), g.scalar(2)]),
    g.op('Cast', [w], { to: 1 }),
  ]);
  g.node('Identity', [sum], ['y']);
  g.node('Cast', [sum], ['y16'], { to: 10 });
  g.output('y', 'float32', [1, 4]);
  g.output('y16', 'float16', [1, 4]);
  const path = join(dir(), 'mixed.onnx');
  await writeFile(path, g.toBuffer());
  return path;
}

async function writeDoubler(): Promise<string> {
  const g = new OnnxGraph('double');
  const x = g.input('input', 'float32', [1, 3]);
  g.node('Mul', [x, g.scalar(2)], ['output']);
  g.output('output', 'float32', [1, 3]);
  const path = join(dir(), 'double.onnx');
  await writeFile(path, g.toBuffer());
  return path;
}

describe('execution providers', () => {
  it.skipIf(providerInstalled('cuda'))(
    'says on one line that this CPU-only install has no cuda',
    async () => {
      const path = await writeDoubler();
      const error = await openSession(path, 'double', { provider: 'cuda', threads: 0 }).catch((e) => e);
      expect(error).toBeInstanceOf(UserError);
      expect(error.message).toBe(
        'execution provider "cuda" is not available: this onnxruntime-node install has no cuda provider ' +
          '(libonnxruntime_providers_shared.so, libonnxruntime_providers_cuda.so absent); add them with ' +
          '"ONNXRUNTIME_NODE_INSTALL=true npm rebuild onnxruntime-node" (they need CUDA 13, cuDNN 9 and an ' +
          'NVIDIA driver ≥ 580; TensorRT also TensorRT 10); or use the cpu provider',
      );
      expect(error.message).not.toContain('\n');
    },
  );

  it.skipIf(providerInstalled('tensorrt'))('and no tensorrt', async () => {
    const path = await writeDoubler();
    await expect(openSession(path, 'double', { provider: 'tensorrt', threads: 0 })).rejects.toThrow(
      /^execution provider "tensorrt" is not available: .*ONNXRUNTIME_NODE_INSTALL=true npm rebuild onnxruntime-node.*TensorRT 10/,
    );
  });

  it('finds the provider libraries the way FaceFusion probes them', () => {
    expect(providerInstalled('cpu', '/nonexistent')).toBe(true);
    expect(providerInstalled('cuda', '/nonexistent')).toBe(false);
  });

  it('chains tensorrt → cuda → cpu and webgpu → cpu, as onnxruntime falls back node by node', () => {
    expect(sessionOptions({ provider: 'webgpu', threads: 0 }).executionProviders).toEqual(['webgpu', 'cpu']);
    expect(sessionOptions({ provider: 'cpu', threads: 0 }).executionProviders).toEqual(['cpu']);
    expect(sessionOptions({ provider: 'cuda', threads: 0 }).executionProviders).toEqual(['cuda', 'cpu']);
    expect(sessionOptions({ provider: 'tensorrt', threads: 0 }).executionProviders).toEqual([
      'tensorrt',
      'cuda',
      'cpu',
    ]);
  });

  it('puts the device id on the cuda and tensorrt providers (--execution-device-ids) and rejects bad ones', () => {
    expect(sessionOptions({ provider: 'cuda', threads: 0, deviceId: 1 }).executionProviders).toEqual([
      { name: 'cuda', deviceId: 1 },
      'cpu',
    ]);
    expect(sessionOptions({ provider: 'tensorrt', threads: 0, deviceId: 3 }).executionProviders).toEqual([
      { name: 'tensorrt', deviceId: 3 },
      { name: 'cuda', deviceId: 3 },
      'cpu',
    ]);
    expect(sessionOptions({ provider: 'webgpu', threads: 0, deviceId: 1 }).executionProviders).toEqual([
      'webgpu',
      'cpu',
    ]);
    expect(() => sessionOptions({ provider: 'cuda', threads: 0, deviceId: -1 })).toThrow(UserError);
  });

  it('honours the thread count (0 = onnxruntime default) and rejects bad ones', async () => {
    expect(sessionOptions({ provider: 'cpu', threads: 0 })).not.toHaveProperty('intraOpNumThreads');
    expect(sessionOptions({ provider: 'cpu', threads: 3 }).intraOpNumThreads).toBe(3);
    // Its thread pools wait without spinning: the cores are shared with the worker's ffmpeg processes.
    expect(sessionOptions({ provider: 'cpu', threads: 3 }).extra).toEqual({
      session: { intra_op: { allow_spinning: '0' }, inter_op: { allow_spinning: '0' } },
    });
    expect(() => sessionOptions({ provider: 'cpu', threads: -1 })).toThrow(UserError);
    expect(() => sessionOptions({ provider: 'cpu', threads: 1.5 })).toThrow(UserError);
    expect(() => sessionOptions({ provider: 'rocm' as 'cpu', threads: 0 })).toThrow(
      /unknown execution provider/,
    );

    const create = vi.spyOn(InferenceSession, 'create');
    const path = await writeDoubler();
    const session = await openSession(path, 'double', { provider: 'cpu', threads: 2 });
    expect(create).toHaveBeenCalledWith(path, {
      executionProviders: ['cpu'],
      intraOpNumThreads: 2,
      extra: { session: { intra_op: { allow_spinning: '0' }, inter_op: { allow_spinning: '0' } } },
    });
    create.mockRestore();
    expect(await runSession(session, Float32Array.of(1, 2, 3), [1, 3])).toEqual([Float32Array.of(2, 4, 6)]);
    await session.release();
  });

  it('reports a file onnxruntime cannot load as a user error', async () => {
    const path = join(dir(), 'broken.onnx');
    await writeFile(path, 'not a model');
    await expect(openSession(path, 'broken')).rejects.toThrow(
      /^cannot load model broken \(.*broken\.onnx\): /,
    );
  });
});

describe('runNamed', () => {
  it('feeds named tensors in the widths the model declares and returns every output by name', async () => {
    const session = await openSession(await writeMixedModel(), 'mixed');
    const outputs = await runNamed(session, {
      // float32 data for a float16 input is converted; the float64 input takes a Float64Array.
      x: { data: Float32Array.of(0.5, -1, 2, 1000), dims: [1, 4] },
      w: { data: Float64Array.of(0.25), dims: [1] },
    });
    expect(Object.keys(outputs)).toEqual(['y', 'y16']);
    expect(outputs.y.dims).toEqual([1, 4]);
    expect(outputFloat32(outputs.y)).toEqual(Float32Array.of(1.25, -1.75, 4.25, 2000.25));
    expect(outputs.y16.type).toBe('float16');
    expect(outputFloat32(outputs.y16)).toEqual(Float32Array.of(1.25, -1.75, 4.25, 2000));
    // Float16 given as its bits goes through untouched.
    const bits = Uint16Array.from([1, 2, 3, 4], toFloat16Bits);
    const again = await runNamed(session, {
      x: { data: bits, dims: [1, 4] },
      w: { data: Float32Array.of(0), dims: [1] },
    });
    expect(outputFloat32(again.y)).toEqual(Float32Array.of(2, 4, 6, 8));
    await expect(runNamed(session, { z: { data: Float32Array.of(1), dims: [1] } })).rejects.toThrow(
      /model has no input "z" \(inputs: x, w\)/,
    );
    await session.release();
  });

  it('converts float16 both ways like numpy', () => {
    for (const value of [0, -0, 1, -2.5, 65504, 1e-7, 6.1e-5, 0.1, Math.PI, 1e6, Number.NaN]) {
      expect(toFloat16Bits(value)).toBe(float16Bits(value));
      const back = fromFloat16Bits(toFloat16Bits(value));
      if (Number.isNaN(value)) expect(back).toBeNaN();
      else if (Math.abs(value) > 65504) expect(back).toBe(Number.POSITIVE_INFINITY);
      else expect(Math.abs(back - value)).toBeLessThanOrEqual(Math.max(Math.abs(value) * 2 ** -11, 2 ** -25));
    }
  });
});
