/**
 * The smallest useful ONNX model, built in memory: `y = x · x + x` on a float32 [1, 8] input. Checking
 * an execution provider means running a session on it, which proves the provider's libraries load and
 * its kernels execute (a provider library that exists but cannot find its CUDA or Vulkan libraries
 * fails here, not in the middle of a job).
 */

/** Protobuf varint bytes of a non-negative integer. */
function varint(value: number): number[] {
  const bytes: number[] = [];
  let rest = value;
  do {
    let byte = rest % 128;
    rest = Math.floor(rest / 128);
    if (rest > 0) byte |= 0x80;
    bytes.push(byte);
  } while (rest > 0);
  return bytes;
}

type Field = number[];

const int = (field: number, value: number): Field => [...varint(field * 8), ...varint(value)];
const bytes = (field: number, body: number[]): Field => [
  ...varint(field * 8 + 2),
  ...varint(body.length),
  ...body,
];
const text = (field: number, value: string): Field => bytes(field, [...Buffer.from(value, 'utf8')]);

const FLOAT = 1;
export const TINY_INPUT = 'x';
export const TINY_OUTPUT = 'y';
export const TINY_DIMS: readonly number[] = [1, 8];

/** ValueInfoProto: name, TypeProto.tensor_type { elem_type float, shape [1, 8] }. */
function floatTensor(name: string): number[] {
  const shape = TINY_DIMS.flatMap((dim) => bytes(1, int(1, dim)));
  return [...text(1, name), ...bytes(2, bytes(1, [...int(1, FLOAT), ...bytes(2, shape)]))];
}

/** NodeProto: inputs, outputs, name, op_type. */
function node(op: string, inputs: string[], output: string): number[] {
  return [
    ...inputs.flatMap((input) => text(1, input)),
    ...text(2, output),
    ...text(3, output),
    ...text(4, op),
  ];
}

/** The serialised model (ONNX IR 8, opset 17). */
export function tinyModel(): Uint8Array {
  const graph = [
    ...bytes(1, node('Mul', [TINY_INPUT, TINY_INPUT], 'xx')),
    ...bytes(1, node('Add', ['xx', TINY_INPUT], TINY_OUTPUT)),
    ...text(2, 'spotfuse_check'),
    ...bytes(11, floatTensor(TINY_INPUT)),
    ...bytes(12, floatTensor(TINY_OUTPUT)),
  ];
  const opset = [...text(1, ''), ...int(2, 17)];
  return Uint8Array.from([...int(1, 8), ...text(2, 'spotfuse'), ...bytes(7, graph), ...bytes(8, opset)]);
}

/** The input the check feeds and the output it must get back. */
export function tinyExample(): { input: Float32Array; expected: Float32Array } {
  const input = Float32Array.from({ length: 8 }, (_, i) => i - 3.5);
  return { input, expected: input.map((x) => x * x + x) };
}
