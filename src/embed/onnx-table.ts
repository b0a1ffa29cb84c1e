/**
 * Reads the two weight tensors of mrag's static embedding graph (scripts/model/onnx.ts writes it) straight
 * from the ONNX protobuf, so the builtin model runs without ONNX Runtime. Only what that writer emits is
 * understood: a ModelProto whose graph initializers carry `raw_data` (little-endian).
 */

/** ONNX TensorProto.DataType values the static graph uses. */
const FLOAT = 1;
const INT8 = 3;

/** The embedding table of a static model: token id -> int8 row times a per-row float scale. */
export interface StaticTable {
  /** Row-major int8 [vocabSize, dimension]. */
  table: Int8Array;
  /** Per-row scale [vocabSize]; 0 for tokens that contribute nothing (padding, [UNK], stopwords). */
  scales: Float32Array;
  vocabSize: number;
  dimension: number;
}

interface RawTensor {
  name: string;
  dataType: number;
  dims: number[];
  raw: Uint8Array;
}

/** A protobuf field as read from the wire: varints as numbers, length-delimited fields as byte views. */
type Field = { no: number; varint: number } | { no: number; bytes: Uint8Array };

class ProtoReader {
  #pos = 0;
  constructor(readonly buf: Uint8Array) {}

  get done(): boolean {
    return this.#pos >= this.buf.length;
  }

  varint(): number {
    let result = 0;
    let scale = 1;
    for (;;) {
      if (this.#pos >= this.buf.length) throw new Error("truncated varint");
      const b = this.buf[this.#pos++]!;
      result += (b & 0x7f) * scale;
      if (b < 0x80) return result;
      scale *= 128;
      if (scale > 2 ** 63) throw new Error("varint too long");
    }
  }

  /** The next field, or null for wire types that carry nothing this reader needs (fixed32/64 are skipped). */
  field(): Field | null {
    const tag = this.varint();
    const no = Math.floor(tag / 8);
    switch (tag & 7) {
      case 0:
        return { no, varint: this.varint() };
      case 1:
        this.#skip(8);
        return null;
      case 2: {
        const len = this.varint();
        const start = this.#pos;
        this.#skip(len);
        return { no, bytes: this.buf.subarray(start, start + len) };
      }
      case 5:
        this.#skip(4);
        return null;
      default:
        throw new Error(`unsupported protobuf wire type ${tag & 7}`);
    }
  }

  #skip(n: number): void {
    if (this.#pos + n > this.buf.length) throw new Error("truncated field");
    this.#pos += n;
  }
}

function* fields(buf: Uint8Array): Generator<Field> {
  const r = new ProtoReader(buf);
  while (!r.done) {
    const f = r.field();
    if (f) yield f;
  }
}

function readTensor(buf: Uint8Array): RawTensor {
  const t: RawTensor = { name: "", dataType: 0, dims: [], raw: new Uint8Array(0) };
  for (const f of fields(buf)) {
    if (f.no === 1) {
      // dims: packed (what the writer emits) or one varint per element
      if ("bytes" in f) {
        const r = new ProtoReader(f.bytes);
        while (!r.done) t.dims.push(r.varint());
      } else t.dims.push(f.varint);
    } else if (f.no === 2 && "varint" in f) t.dataType = f.varint;
    else if (f.no === 8 && "bytes" in f) t.name = new TextDecoder().decode(f.bytes);
    else if (f.no === 9 && "bytes" in f) t.raw = f.bytes;
  }
  return t;
}

/** Graph initializers by name (ModelProto.graph = field 7, GraphProto.initializer = field 5). */
function initializers(model: Uint8Array): Map<string, RawTensor> {
  const out = new Map<string, RawTensor>();
  for (const f of fields(model)) {
    if (f.no !== 7 || !("bytes" in f)) continue;
    for (const g of fields(f.bytes)) {
      if (g.no === 5 && "bytes" in g) {
        const t = readTensor(g.bytes);
        out.set(t.name, t);
      }
    }
  }
  return out;
}

/**
 * The `embedding_table` (int8 [V, D]) and `row_scales` (float [V]) initializers of a static embedding ONNX
 * file. Throws a plain Error naming what is missing; the caller wraps it with the model's folder.
 */
export function readStaticTable(model: Uint8Array): StaticTable {
  const init = initializers(model);
  const table = init.get("embedding_table");
  const scales = init.get("row_scales");
  if (!table || table.dataType !== INT8 || table.dims.length !== 2) {
    throw new Error("no int8 [vocab, dimension] initializer named embedding_table");
  }
  if (!scales || scales.dataType !== FLOAT || scales.dims.length !== 1) {
    throw new Error("no float [vocab] initializer named row_scales");
  }
  const [vocabSize = 0, dimension = 0] = table.dims;
  if (table.raw.length !== vocabSize * dimension || scales.dims[0] !== vocabSize) {
    throw new Error(`embedding_table has ${table.raw.length} bytes for [${vocabSize}, ${dimension}]`);
  }
  if (scales.raw.length !== vocabSize * 4) throw new Error(`row_scales has ${scales.raw.length} bytes`);
  const rows = new Int8Array(vocabSize * dimension);
  rows.set(new Int8Array(table.raw.buffer, table.raw.byteOffset, table.raw.length));
  const view = new DataView(scales.raw.buffer, scales.raw.byteOffset, scales.raw.length);
  const scaleValues = new Float32Array(vocabSize);
  for (let i = 0; i < vocabSize; i++) scaleValues[i] = view.getFloat32(i * 4, true);
  return { table: rows, scales: scaleValues, vocabSize, dimension };
}
