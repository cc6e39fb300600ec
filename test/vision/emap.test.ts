import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { UserError } from '../../src/core/errors.js';
import { decodeTensor, readLastInitializer } from '../../src/vision/onnxInitializer.js';
import { inswapperEmap } from '../fixtures/models.js';
import { float16Value, OnnxGraph, toFloat16Bits } from '../helpers/onnx/graph.js';
import { ProtoWriter } from '../helpers/onnx/protobuf.js';
import { useTempDir } from '../helpers/tempDir.js';

const dir = useTempDir();

/** A model with a few initializers before `last`, all feeding one Add chain so the graph is valid. */
async function modelWith(last: (g: OnnxGraph) => void, before = 2, big = 0): Promise<string> {
  const g = new OnnxGraph('initializers');
  const x = g.input('x', 'float32', [1]);
  let value = x;
  if (big > 0) g.initializer('big', new Float32Array(big).fill(1), [big]);
  for (let i = 0; i < before; i++)
    value = g.op('Add', [value, g.initializer(`w${i}`, Float32Array.of(i), [1])]);
  g.node('Identity', [value], ['y']);
  g.output('y', 'float32', [1]);
  last(g);
  const path = join(dir(), `model-${Math.random().toString(36).slice(2)}.onnx`);
  await writeFile(path, g.toBuffer());
  return path;
}

/** A ModelProto whose graph holds one hand-written TensorProto (fields ONNX writers may use). */
async function modelWithTensor(tensor: (t: ProtoWriter) => void): Promise<string> {
  const bytes = new ProtoWriter()
    .varint(1, 8)
    .message(7, (graph) => graph.string(2, 'g').message(5, tensor))
    .finish();
  const path = join(dir(), `tensor-${Math.random().toString(36).slice(2)}.onnx`);
  await writeFile(path, bytes);
  return path;
}

describe('readLastInitializer (inswapper emap)', () => {
  it('reads the last float32 initializer of the graph', async () => {
    const values = Float32Array.from({ length: 12 }, (_, i) => i * 0.5 - 3);
    const path = await modelWith((g) => g.initializer('emap', values, [3, 4]));
    expect(await readLastInitializer(path)).toEqual({ name: 'emap', dims: [3, 4], data: values });
  });

  it('reads a 512×512 emap behind a large initializer without loading the rest', async () => {
    const emap = inswapperEmap();
    const path = await modelWith((g) => g.initializer('emap', emap, [512, 512]), 3, 4_000_000);
    const read = await readLastInitializer(path);
    expect(read.dims).toEqual([512, 512]);
    expect(read.data).toEqual(emap);
  });

  it('decodes float16 and float64 initializers to float32', async () => {
    const values = [0.1, -2, 65504, Math.PI];
    const half = await readLastInitializer(
      await modelWith((g) => g.initializer('emap', toFloat16Bits(values), [2, 2], 'float16')),
    );
    expect(Array.from(half.data)).toEqual(Array.from(toFloat16Bits(values), float16Value));
    const double = await readLastInitializer(
      await modelWith((g) => g.initializer('emap', Float64Array.from(values), [4], 'float64')),
    );
    expect(double.data).toEqual(Float32Array.from(values));
  });

  it('reads values stored in float_data, and float16 stored as int32_data bits', async () => {
    const floats = await readLastInitializer(
      await modelWithTensor((t) =>
        t.packedVarints(1, [2, 2]).varint(2, 1).packedFloats(4, [1, 2, 3, 4]).string(8, 'f'),
      ),
    );
    expect(floats).toEqual({ name: 'f', dims: [2, 2], data: Float32Array.of(1, 2, 3, 4) });
    const bits = toFloat16Bits([0.5, -1.5]);
    const halves = await readLastInitializer(
      await modelWithTensor((t) => t.varint(1, 2).varint(2, 10).packedVarints(5, bits).string(8, 'h')),
    );
    expect(halves).toEqual({ name: 'h', dims: [2], data: Float32Array.of(0.5, -1.5) });
  });

  it('decodes one TensorProto', async () => {
    const bytes = new ProtoWriter()
      .packedVarints(1, [2])
      .varint(2, 1)
      .string(8, 't')
      .packedFloats(4, [7, 8])
      .finish();
    expect(await decodeTensor(bytes)).toEqual({ name: 't', dims: [2], data: Float32Array.of(7, 8) });
  });

  it('gives a user error for files it cannot read', async () => {
    const notOnnx = join(dir(), 'text.onnx');
    await writeFile(notOnnx, 'hello, this is not protobuf');
    await expect(readLastInitializer(notOnnx)).rejects.toThrow(UserError);
    const empty = await modelWithTensor((t) => t.string(8, 'x'));
    const noGraph = join(dir(), 'nograph.onnx');
    await writeFile(noGraph, new ProtoWriter().varint(1, 8).finish());
    await expect(readLastInitializer(noGraph)).rejects.toThrow(/no graph in the model/);
    const external = await modelWithTensor((t) => t.varint(1, 1).varint(2, 1).string(8, 'e').varint(14, 1));
    await expect(readLastInitializer(external)).rejects.toThrow(/external file/);
    const ints = await modelWithTensor((t) =>
      t.varint(1, 1).varint(2, 7).string(8, 'i').packedVarints(7, [1]),
    );
    await expect(readLastInitializer(ints)).rejects.toThrow(/data type 7, not a float type/);
    await expect(readLastInitializer(empty)).rejects.toThrow(
      /initializer x has data type 0, not a float type/,
    );
  });
});
