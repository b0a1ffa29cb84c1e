/**
 * A minimal protocol-buffers *encoder*: just enough to write ONNX files (varints, length-delimited fields,
 * fixed32 floats, packed repeated int64). Messages are built bottom-up as byte arrays, so nested messages
 * are encoded first and embedded as length-delimited fields. Output is fully deterministic.
 */

const WIRE_VARINT = 0;
const WIRE_LEN = 2;
const WIRE_FIXED32 = 5;

/** Accumulates the encoded fields of one message. */
export class ProtoWriter {
  private readonly chunks: Uint8Array[] = [];
  private length = 0;

  private push(bytes: Uint8Array): void {
    this.chunks.push(bytes);
    this.length += bytes.length;
  }

  private tag(field: number, wire: number): void {
    this.push(encodeVarint(BigInt(field * 8 + wire)));
  }

  /** int32 / int64 / enum / bool field (negative values use the 10-byte two's complement form). */
  int(field: number, value: number | bigint): this {
    this.tag(field, WIRE_VARINT);
    let v = BigInt(value);
    if (v < 0n) v = (1n << 64n) + v;
    this.push(encodeVarint(v));
    return this;
  }

  float(field: number, value: number): this {
    this.tag(field, WIRE_FIXED32);
    const b = new Uint8Array(4);
    new DataView(b.buffer).setFloat32(0, value, true);
    this.push(b);
    return this;
  }

  bytes(field: number, value: Uint8Array): this {
    this.tag(field, WIRE_LEN);
    this.push(encodeVarint(BigInt(value.length)));
    this.push(value);
    return this;
  }

  string(field: number, value: string): this {
    return this.bytes(field, new TextEncoder().encode(value));
  }

  message(field: number, value: ProtoWriter): this {
    return this.bytes(field, value.finish());
  }

  /** Packed repeated int64 (proto3 default packing; ONNX readers accept both packed and unpacked). */
  packedInts(field: number, values: readonly (number | bigint)[]): this {
    const inner = new ProtoWriter();
    for (const v of values) {
      let b = BigInt(v);
      if (b < 0n) b = (1n << 64n) + b;
      inner.push(encodeVarint(b));
    }
    return this.bytes(field, inner.finish());
  }

  finish(): Uint8Array {
    const out = new Uint8Array(this.length);
    let offset = 0;
    for (const c of this.chunks) {
      out.set(c, offset);
      offset += c.length;
    }
    return out;
  }
}

export function encodeVarint(value: bigint): Uint8Array {
  if (value < 0n) throw new RangeError("encodeVarint expects a non-negative value");
  const out: number[] = [];
  let v = value;
  do {
    let byte = Number(v & 0x7fn);
    v >>= 7n;
    if (v > 0n) byte |= 0x80;
    out.push(byte);
  } while (v > 0n);
  return Uint8Array.from(out);
}
