import { type FileHandle, open } from 'node:fs/promises';
import { UserError } from '../core/errors.js';
import { fromFloat16Bits } from './onnx.js';

/** A constant tensor stored in an ONNX graph, decoded to float32. */
export interface Initializer {
  name: string;
  dims: number[];
  data: Float32Array;
}

// onnx.proto field numbers: ModelProto.graph, GraphProto.initializer, and the TensorProto fields read.
const MODEL_GRAPH = 7;
const GRAPH_INITIALIZER = 5;
const TENSOR = { dims: 1, dataType: 2, floatData: 4, int32Data: 5, name: 8, rawData: 9, doubleData: 10 };
const TENSOR_DATA_LOCATION = 14;
const DATA_TYPE = { float: 1, float16: 10, double: 11 } as const;

const BLOCK = 1 << 16;

/** Positioned reads through a small block cache, so walking field headers costs few syscalls. */
class FileBytes {
  private start = -1;
  private block = Buffer.alloc(0);

  constructor(
    private readonly file: FileHandle,
    readonly size: number,
  ) {}

  async byteAt(position: number): Promise<number> {
    if (position < this.start || position >= this.start + this.block.length) {
      const length = Math.min(BLOCK, this.size - position);
      if (length <= 0) throw new RangeError('read past the end of the file');
      const buffer = Buffer.alloc(length);
      const { bytesRead } = await this.file.read(buffer, 0, length, position);
      this.start = position;
      this.block = buffer.subarray(0, bytesRead);
      if (bytesRead === 0) throw new RangeError('read past the end of the file');
    }
    return this.block[position - this.start];
  }

  async bytes(position: number, length: number): Promise<Buffer> {
    const buffer = Buffer.alloc(length);
    const { bytesRead } = await this.file.read(buffer, 0, length, position);
    if (bytesRead !== length) throw new RangeError('read past the end of the file');
    return buffer;
  }
}

interface Source {
  byteAt(position: number): Promise<number> | number;
}

/** A base-128 varint (up to 2^53, plenty for lengths and the fields read here). */
async function varint(source: Source, position: number): Promise<[value: number, next: number]> {
  let value = 0;
  let scale = 1;
  for (let i = 0; i < 10; i++) {
    const byte = await source.byteAt(position + i);
    value += (byte & 0x7f) * scale;
    if (byte < 0x80) return [value, position + i + 1];
    scale *= 128;
  }
  throw new RangeError('malformed varint');
}

interface Field {
  field: number;
  wire: number;
  /** Varint value, or the payload's length for length-delimited fields. */
  value: number;
  /** Where the payload starts (length-delimited and fixed-width fields). */
  start: number;
  end: number;
}

/** Walks the fields of one message in [start, end) without reading length-delimited payloads. */
async function* fields(source: Source, start: number, end: number): AsyncGenerator<Field> {
  let position = start;
  while (position < end) {
    const [key, afterKey] = await varint(source, position);
    const field = Math.floor(key / 8);
    const wire = key % 8;
    if (wire === 0) {
      const [value, next] = await varint(source, afterKey);
      yield { field, wire, value, start: afterKey, end: next };
      position = next;
    } else if (wire === 1 || wire === 5) {
      const next = afterKey + (wire === 1 ? 8 : 4);
      yield { field, wire, value: 0, start: afterKey, end: next };
      position = next;
    } else if (wire === 2) {
      const [length, payload] = await varint(source, afterKey);
      yield { field, wire, value: length, start: payload, end: payload + length };
      position = payload + length;
    } else {
      throw new RangeError(`unsupported protobuf wire type ${wire}`);
    }
    if (position > end) throw new RangeError('protobuf field runs past its message');
  }
}

async function packedVarints(source: Source, f: Field): Promise<number[]> {
  const values: number[] = [];
  let position = f.start;
  while (position < f.end) {
    const [value, next] = await varint(source, position);
    values.push(value);
    position = next;
  }
  return values;
}

/** Decodes one serialized TensorProto of a float type. */
export async function decodeTensor(bytes: Uint8Array): Promise<Initializer> {
  const source = { byteAt: (i: number) => bytes[i] };
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const dims: number[] = [];
  const floats: number[] = [];
  const ints: number[] = [];
  let dataType = 0;
  let name = '';
  let raw: Uint8Array | undefined;
  for await (const f of fields(source, 0, bytes.length)) {
    if (f.field === TENSOR.dims) {
      if (f.wire === 0) dims.push(f.value);
      else dims.push(...(await packedVarints(source, f)));
    } else if (f.field === TENSOR.dataType && f.wire === 0) {
      dataType = f.value;
    } else if (f.field === TENSOR.floatData) {
      for (let p = f.start; p < f.end; p += 4) floats.push(view.getFloat32(p, true));
    } else if (f.field === TENSOR.doubleData) {
      for (let p = f.start; p < f.end; p += 8) floats.push(view.getFloat64(p, true));
    } else if (f.field === TENSOR.int32Data) {
      if (f.wire === 0) ints.push(f.value);
      else ints.push(...(await packedVarints(source, f)));
    } else if (f.field === TENSOR.name && f.wire === 2) {
      name = Buffer.from(bytes.subarray(f.start, f.end)).toString('utf8');
    } else if (f.field === TENSOR.rawData && f.wire === 2) {
      raw = bytes.subarray(f.start, f.end);
    } else if (f.field === TENSOR_DATA_LOCATION && f.value === 1) {
      throw new RangeError(`initializer ${name || '(unnamed)'} keeps its data in an external file`);
    }
  }
  if (!Object.values(DATA_TYPE).includes(dataType as 1 | 10 | 11)) {
    throw new RangeError(`initializer ${name} has data type ${dataType}, not a float type`);
  }
  const count = dims.reduce((a, b) => a * b, 1);
  const data = new Float32Array(count);
  if (raw) {
    const rawView = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
    const width = dataType === DATA_TYPE.float ? 4 : dataType === DATA_TYPE.float16 ? 2 : 8;
    if (raw.byteLength !== count * width) throw new RangeError('initializer raw data has the wrong size');
    for (let i = 0; i < count; i++) {
      if (dataType === DATA_TYPE.float) data[i] = rawView.getFloat32(i * 4, true);
      else if (dataType === DATA_TYPE.float16) data[i] = fromFloat16Bits(rawView.getUint16(i * 2, true));
      else data[i] = rawView.getFloat64(i * 8, true);
    }
  } else {
    // float16 values without raw_data are stored as their bits in int32_data.
    const values = dataType === DATA_TYPE.float16 ? ints.map(fromFloat16Bits) : floats;
    if (values.length !== count) throw new RangeError('initializer holds the wrong number of values');
    data.set(values);
  }
  return { name, dims, data };
}

/**
 * The last initializer of the model's graph, decoded — what FaceFusion takes as inswapper's `emap`
 * (`onnx.load(path).graph.initializer[-1]`, model_helper.py). Only the field headers of the file are
 * read on the way, not the other weights.
 */
export async function readLastInitializer(path: string): Promise<Initializer> {
  const file = await open(path, 'r');
  try {
    const source = new FileBytes(file, (await file.stat()).size);
    let graph: Field | undefined;
    for await (const f of fields(source, 0, source.size)) {
      if (f.field === MODEL_GRAPH && f.wire === 2) graph = f;
    }
    if (!graph) throw new RangeError('no graph in the model');
    let last: Field | undefined;
    for await (const f of fields(source, graph.start, graph.end)) {
      if (f.field === GRAPH_INITIALIZER && f.wire === 2) last = f;
    }
    if (!last) throw new RangeError('the graph has no initializer');
    return await decodeTensor(await source.bytes(last.start, last.value));
  } catch (error) {
    if (error instanceof RangeError) {
      throw new UserError(`cannot read the initializers of ${path}: ${error.message}`);
    }
    throw error;
  } finally {
    await file.close();
  }
}
