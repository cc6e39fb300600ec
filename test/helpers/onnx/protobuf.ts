/**
 * A minimal protobuf wire-format writer: enough to serialise ONNX models in tests, with no
 * dependency. Fields are written in the order they are added (protobuf readers accept any order).
 *
 * Wire types: 0 varint, 1 fixed64, 2 length-delimited, 5 fixed32.
 */

const VARINT = 0;
const FIXED64 = 1;
const LENGTH_DELIMITED = 2;
const FIXED32 = 5;

/** Bytes of `value` as a base-128 varint; negative numbers as 64-bit two's complement (10 bytes). */
export function encodeVarint(value: number | bigint): Uint8Array {
  if (typeof value === 'number' && !Number.isSafeInteger(value)) {
    throw new RangeError(`varint: ${value} is not a safe integer`);
  }
  let rest = BigInt.asUintN(64, BigInt(value));
  const bytes: number[] = [];
  do {
    let byte = Number(rest & 0x7fn);
    rest >>= 7n;
    if (rest > 0n) byte |= 0x80;
    bytes.push(byte);
  } while (rest > 0n);
  return Uint8Array.from(bytes);
}

export class ProtoWriter {
  private readonly parts: Uint8Array[] = [];

  private tag(field: number, wireType: number): void {
    if (!Number.isInteger(field) || field < 1 || field > 0x1fffffff) {
      throw new RangeError(`protobuf: bad field number ${field}`);
    }
    this.parts.push(encodeVarint(field * 8 + wireType));
  }

  /** int32, int64, uint64, bool or enum field. */
  varint(field: number, value: number | bigint | boolean): this {
    this.tag(field, VARINT);
    this.parts.push(encodeVarint(typeof value === 'boolean' ? Number(value) : value));
    return this;
  }

  /** `float` field (fixed32, little-endian IEEE 754). */
  float(field: number, value: number): this {
    this.tag(field, FIXED32);
    const bytes = new Uint8Array(4);
    new DataView(bytes.buffer).setFloat32(0, value, true);
    this.parts.push(bytes);
    return this;
  }

  /** `double` field (fixed64, little-endian IEEE 754). */
  double(field: number, value: number): this {
    this.tag(field, FIXED64);
    const bytes = new Uint8Array(8);
    new DataView(bytes.buffer).setFloat64(0, value, true);
    this.parts.push(bytes);
    return this;
  }

  /** `bytes` field. */
  bytes(field: number, value: Uint8Array): this {
    this.tag(field, LENGTH_DELIMITED);
    this.parts.push(encodeVarint(value.byteLength), value);
    return this;
  }

  /** `string` field, UTF-8. */
  string(field: number, value: string): this {
    return this.bytes(field, new TextEncoder().encode(value));
  }

  /** Embedded message field: `build` fills a fresh writer, or pass one already filled. */
  message(field: number, build: ProtoWriter | ((writer: ProtoWriter) => void)): this {
    let inner = build;
    if (typeof inner === 'function') {
      const writer = new ProtoWriter();
      inner(writer);
      inner = writer;
    }
    return this.bytes(field, inner.finish());
  }

  /** Packed `repeated float` field. */
  packedFloats(field: number, values: ArrayLike<number>): this {
    const bytes = new Uint8Array(values.length * 4);
    const view = new DataView(bytes.buffer);
    for (let i = 0; i < values.length; i++) view.setFloat32(i * 4, values[i], true);
    return this.bytes(field, bytes);
  }

  /** Packed `repeated int64` / `int32` / `uint64` field (varints). */
  packedVarints(field: number, values: ArrayLike<number | bigint>): this {
    const encoded: Uint8Array[] = [];
    for (let i = 0; i < values.length; i++) encoded.push(encodeVarint(values[i]));
    return this.bytes(field, concat(encoded));
  }

  /** The serialised message. */
  finish(): Buffer {
    return concat(this.parts);
  }
}

function concat(parts: Uint8Array[]): Buffer {
  return Buffer.concat(parts);
}
