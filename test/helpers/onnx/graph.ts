import { ProtoWriter } from './protobuf.js';

/**
 * Builds small ONNX models (ModelProto, IR version 8, default-domain opset 17) for tests. Field
 * numbers are those of onnx/onnx.proto:
 *
 * - ModelProto: ir_version 1, producer_name 2, graph 7, opset_import 8
 * - OperatorSetIdProto: domain 1, version 2
 * - GraphProto: node 1, name 2, initializer 5, input 11, output 12
 * - NodeProto: input 1, output 2, name 3, op_type 4, attribute 5
 * - AttributeProto: name 1, f 2, i 3, s 4, t 5, floats 7, ints 8, type 20
 * - TensorProto: dims 1, data_type 2, name 8, raw_data 9
 * - ValueInfoProto: name 1, type 2; TypeProto: tensor_type 1; TypeProto.Tensor: elem_type 1, shape 2
 * - TensorShapeProto: dim 1; Dimension: dim_value 1, dim_param 2
 */

export type DType = 'float32' | 'uint8' | 'int8' | 'int32' | 'int64' | 'bool' | 'float16' | 'float64';

/** TensorProto.DataType. */
export const DATA_TYPES: Record<DType, number> = {
  float32: 1,
  uint8: 2,
  int8: 3,
  int32: 6,
  int64: 7,
  bool: 9,
  float16: 10,
  float64: 11,
};

/** A dimension: a fixed size, or a symbolic name for a dynamic axis. */
export type Dim = number | string;

/**
 * Tensor contents. A Uint16Array holds float16 bit patterns (see `toFloat16Bits`); a plain number
 * array needs an explicit dtype.
 */
export type TensorData =
  | Float32Array
  | Float64Array
  | BigInt64Array
  | Int32Array
  | Int8Array
  | Uint8Array
  | Uint16Array;

export interface TensorInit {
  data: TensorData;
  dims: readonly number[];
  dtype?: DType;
}

/** AttributeProto.AttributeType. */
const ATTR_TYPES = { float: 1, int: 2, string: 3, tensor: 4, floats: 6, ints: 7 } as const;

export type Attribute =
  | { type: 'int'; value: number | bigint }
  | { type: 'float'; value: number }
  | { type: 'ints'; value: readonly (number | bigint)[] }
  | { type: 'floats'; value: readonly number[] }
  | { type: 'string'; value: string }
  | { type: 'tensor'; value: TensorInit };

/**
 * A node attribute. Shorthands: a string is STRING; an integer is INT and any other number FLOAT;
 * an array of integers is INTS and any other number array FLOATS. Use the `attr` helpers for a
 * float attribute with an integral value (e.g. `attr.float(1)`), an empty list or a tensor.
 */
export type AttributeValue = Attribute | string | number | readonly number[];

export const attr = {
  int: (value: number | bigint): Attribute => ({ type: 'int', value }),
  float: (value: number): Attribute => ({ type: 'float', value }),
  ints: (value: readonly (number | bigint)[]): Attribute => ({ type: 'ints', value }),
  floats: (value: readonly number[]): Attribute => ({ type: 'floats', value }),
  string: (value: string): Attribute => ({ type: 'string', value }),
  tensor: (data: TensorData, dims: readonly number[], dtype?: DType): Attribute => ({
    type: 'tensor',
    value: { data, dims, dtype },
  }),
};

function normaliseAttribute(value: AttributeValue): Attribute {
  if (typeof value === 'string') return { type: 'string', value };
  if (typeof value === 'number') return Number.isInteger(value) ? attr.int(value) : attr.float(value);
  if (Array.isArray(value)) {
    const list = value as readonly number[];
    return list.every(Number.isInteger) ? attr.ints(list) : attr.floats(list);
  }
  return value as Attribute;
}

function inferDtype(data: TensorData): DType {
  if (data instanceof Float32Array) return 'float32';
  if (data instanceof Float64Array) return 'float64';
  if (data instanceof BigInt64Array) return 'int64';
  if (data instanceof Int32Array) return 'int32';
  if (data instanceof Int8Array) return 'int8';
  if (data instanceof Uint8Array) return 'uint8';
  return 'float16';
}

const float32Scratch = new Float32Array(1);
const uint32Scratch = new Uint32Array(float32Scratch.buffer);

/** IEEE 754 half-precision bits of `value`, rounded to nearest even (as numpy's astype(float16)). */
export function float16Bits(value: number): number {
  float32Scratch[0] = value;
  const bits = uint32Scratch[0];
  const sign = (bits >>> 16) & 0x8000;
  const exponent = (bits >>> 23) & 0xff;
  let mantissa = bits & 0x7fffff;
  if (exponent === 0xff) return sign | 0x7c00 | (mantissa ? 0x200 : 0);
  const halfExponent = exponent - 127 + 15;
  if (halfExponent >= 0x1f) return sign | 0x7c00;
  if (halfExponent <= 0) {
    if (halfExponent < -10) return sign;
    mantissa |= 0x800000;
    const shift = 14 - halfExponent;
    let half = mantissa >>> shift;
    const remainder = mantissa & ((1 << shift) - 1);
    const halfway = 1 << (shift - 1);
    if (remainder > halfway || (remainder === halfway && half & 1)) half++;
    return sign | half;
  }
  // A carry out of the mantissa rounds up into the exponent (and to infinity past the largest half).
  let half = (halfExponent << 10) | (mantissa >>> 13);
  const remainder = mantissa & 0x1fff;
  if (remainder > 0x1000 || (remainder === 0x1000 && half & 1)) half++;
  return sign | half;
}

/** The value of half-precision `bits`. */
export function float16Value(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const exponent = (bits >>> 10) & 0x1f;
  const mantissa = bits & 0x3ff;
  if (exponent === 0) return sign * mantissa * 2 ** -24;
  if (exponent === 0x1f) return mantissa ? Number.NaN : sign * Number.POSITIVE_INFINITY;
  return sign * (1 + mantissa / 1024) * 2 ** (exponent - 15);
}

/** Float16 bit patterns of `values`, for a float16 tensor. */
export function toFloat16Bits(values: ArrayLike<number>): Uint16Array {
  const bits = new Uint16Array(values.length);
  for (let i = 0; i < values.length; i++) bits[i] = float16Bits(values[i]);
  return bits;
}

function writeTensor(writer: ProtoWriter, name: string | undefined, tensor: TensorInit): void {
  const dtype = tensor.dtype ?? inferDtype(tensor.data);
  const count = tensor.dims.reduce((product, dim) => product * dim, 1);
  if (count !== tensor.data.length) {
    throw new Error(
      `tensor ${name ?? ''}: dims [${tensor.dims}] hold ${count} values, data has ${tensor.data.length}`,
    );
  }
  writer.packedVarints(1, tensor.dims);
  writer.varint(2, DATA_TYPES[dtype]);
  if (name !== undefined) writer.string(8, name);
  const { buffer, byteOffset, byteLength } = tensor.data;
  // raw_data is little-endian, as typed arrays are on every platform Node supports.
  writer.bytes(9, new Uint8Array(buffer, byteOffset, byteLength));
}

function writeValueInfo(writer: ProtoWriter, value: ValueInfo): void {
  writer.string(1, value.name);
  writer.message(2, (type) =>
    type.message(1, (tensorType) => {
      tensorType.varint(1, DATA_TYPES[value.dtype]);
      tensorType.message(2, (shape) => {
        for (const dim of value.dims) {
          shape.message(1, (d) => (typeof dim === 'number' ? d.varint(1, dim) : d.string(2, dim)));
        }
      });
    }),
  );
}

function writeAttribute(writer: ProtoWriter, name: string, attribute: Attribute): void {
  writer.string(1, name);
  switch (attribute.type) {
    case 'float':
      writer.float(2, attribute.value);
      break;
    case 'int':
      writer.varint(3, attribute.value);
      break;
    case 'string':
      writer.string(4, attribute.value);
      break;
    case 'tensor':
      writer.message(5, (t) => writeTensor(t, undefined, attribute.value));
      break;
    case 'floats':
      writer.packedFloats(7, attribute.value);
      break;
    case 'ints':
      writer.packedVarints(8, attribute.value);
      break;
  }
  writer.varint(20, ATTR_TYPES[attribute.type]);
}

interface ValueInfo {
  name: string;
  dtype: DType;
  dims: readonly Dim[];
}

interface NodeInfo {
  opType: string;
  inputs: readonly string[];
  outputs: readonly string[];
  name: string;
  attrs: [string, Attribute][];
}

export class OnnxGraph {
  private readonly inputs: ValueInfo[] = [];
  private readonly outputs: ValueInfo[] = [];
  private readonly initializers: { name: string; tensor: TensorInit }[] = [];
  private readonly nodes: NodeInfo[] = [];
  private readonly names = new Set<string>();
  private counter = 0;

  constructor(
    readonly name = 'test',
    readonly opset = 17,
  ) {}

  private claim(name: string): string {
    if (this.names.has(name)) throw new Error(`onnx graph: "${name}" is defined twice`);
    this.names.add(name);
    return name;
  }

  /** A name no value of this graph has yet, from `prefix`. */
  fresh(prefix = 't'): string {
    let name: string;
    do name = `${prefix}_${this.counter++}`;
    while (this.names.has(name));
    return name;
  }

  input(name: string, dtype: DType, dims: readonly Dim[]): string {
    this.inputs.push({ name: this.claim(name), dtype, dims });
    return name;
  }

  /** Declares a graph output; some node must produce `name`. */
  output(name: string, dtype: DType, dims: readonly Dim[]): string {
    this.outputs.push({ name, dtype, dims });
    return name;
  }

  /**
   * A constant tensor. Initializers are stored in the order they are added (FaceFusion reads
   * inswapper's emap as the last one); nodes may refer to a name before it is added.
   */
  initializer(name: string, data: TensorData, dims: readonly number[], dtype?: DType): string {
    this.initializers.push({ name: this.claim(name), tensor: { data, dims, dtype } });
    return name;
  }

  /** An initializer under a fresh name. */
  constant(data: TensorData, dims: readonly number[], dtype?: DType): string {
    return this.initializer(this.fresh('const'), data, dims, dtype);
  }

  /** A float32 scalar (rank 0) initializer. */
  scalar(value: number): string {
    return this.constant(Float32Array.of(value), []);
  }

  /** An int64 vector initializer (shapes, axes). */
  int64s(values: readonly number[]): string {
    return this.constant(BigInt64Array.from(values.map(BigInt)), [values.length]);
  }

  /** Adds a node; returns its first output. An empty input name is an omitted optional input. */
  node(
    opType: string,
    inputs: readonly string[],
    outputs: readonly string[],
    attrs: Record<string, AttributeValue> = {},
  ): string {
    for (const output of outputs) this.claim(output);
    this.nodes.push({
      opType,
      inputs,
      outputs,
      name: `${opType}_${this.nodes.length}`,
      attrs: Object.entries(attrs).map(([key, value]) => [key, normaliseAttribute(value)]),
    });
    return outputs[0];
  }

  /** Adds a single-output node with a fresh output name and returns that name. */
  op(opType: string, inputs: readonly string[], attrs: Record<string, AttributeValue> = {}): string {
    return this.node(opType, inputs, [this.fresh(opType.toLowerCase())], attrs);
  }

  /** Serialised ModelProto. */
  toBuffer(): Buffer {
    const graph = new ProtoWriter();
    for (const node of this.nodes) {
      graph.message(1, (n) => {
        for (const input of node.inputs) n.string(1, input);
        for (const output of node.outputs) n.string(2, output);
        n.string(3, node.name);
        n.string(4, node.opType);
        for (const [key, value] of node.attrs) n.message(5, (a) => writeAttribute(a, key, value));
      });
    }
    graph.string(2, this.name);
    for (const { name, tensor } of this.initializers) graph.message(5, (t) => writeTensor(t, name, tensor));
    for (const input of this.inputs) graph.message(11, (v) => writeValueInfo(v, input));
    for (const output of this.outputs) graph.message(12, (v) => writeValueInfo(v, output));

    return new ProtoWriter()
      .varint(1, 8)
      .string(2, 'spotfuse-test')
      .message(7, graph)
      .message(8, (opset) => opset.string(1, '').varint(2, this.opset))
      .finish();
  }
}
