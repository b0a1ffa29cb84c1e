/**
 * Writes the static-embedding ONNX graph by hand (field numbers from onnx/onnx.proto, IR version 8, opset 13).
 *
 * Graph (V = vocabulary size, D = dimension):
 *
 *   input_ids [batch, seq] int64 ──Gather(table int8 [V, D])──Cast(float)──────────────┐
 *            └──────────────────Gather(scales float [V])──┐                            Mul ── last_hidden_state
 *   attention_mask [batch, seq] int64 ──Cast(float)────────Mul──Unsqueeze(axis 2)──────┘     [batch, seq, D]
 *                       └── ReduceSum(axis 1) ── Max(1) ──────────────┐                       │ ReduceSum(axis 1)
 *                                                                     └──────────────── Div ── sentence_embedding
 *                                                                                               [batch, D]
 *
 * i.e. every token becomes `int8 row * per-row scale` (the scale carries the token weight), and padding
 * positions are zeroed by the mask. transformers.js' feature-extraction pipeline mean-pools
 * `last_hidden_state` with the attention mask and L2-normalises, which yields the normalised weighted sum of
 * token vectors. `sentence_embedding` is the same mean computed inside the graph (what mrag's embedder reads,
 * since pooling in JavaScript costs more than the whole graph).
 */
import { ProtoWriter } from "./protobuf.js";

/** TensorProto.DataType values used here. */
const FLOAT = 1;
const INT8 = 3;
const INT64 = 7;
/** AttributeProto.AttributeType.INT */
const ATTR_INT = 2;
/** The opset the graph is written for. */
export const OPSET = 13;

export interface StaticModelGraph {
  /** Row-major int8 table [vocabSize, dimension]. */
  table: Int8Array;
  /** Per-row float scale [vocabSize] (0 for padding). */
  scales: Float32Array;
  vocabSize: number;
  dimension: number;
  producerVersion: string;
  docString: string;
  /** Free-form key/value metadata stored in ModelProto.metadata_props. */
  metadata?: Readonly<Record<string, string>>;
}

function tensor(name: string, dataType: number, dims: readonly number[], raw: Uint8Array): ProtoWriter {
  const t = new ProtoWriter();
  if (dims.length > 0) t.packedInts(1, dims);
  t.int(2, dataType);
  t.string(8, name);
  t.bytes(9, raw);
  return t;
}

function valueInfo(name: string, elemType: number, dims: readonly (number | string)[]): ProtoWriter {
  const shape = new ProtoWriter();
  for (const d of dims) {
    const dim = new ProtoWriter();
    if (typeof d === "number") dim.int(1, d);
    else dim.string(2, d);
    shape.message(1, dim);
  }
  const tensorType = new ProtoWriter().int(1, elemType).message(2, shape);
  const type = new ProtoWriter().message(1, tensorType);
  return new ProtoWriter().string(1, name).message(2, type);
}

function node(
  opType: string,
  name: string,
  inputs: readonly string[],
  outputs: readonly string[],
  intAttrs: Readonly<Record<string, number>> = {},
): ProtoWriter {
  const n = new ProtoWriter();
  for (const i of inputs) n.string(1, i);
  for (const o of outputs) n.string(2, o);
  n.string(3, name);
  n.string(4, opType);
  for (const [key, value] of Object.entries(intAttrs)) {
    n.message(5, new ProtoWriter().string(1, key).int(3, value).int(20, ATTR_INT));
  }
  return n;
}

function littleEndianFloats(values: Float32Array): Uint8Array {
  const out = new Uint8Array(values.length * 4);
  const view = new DataView(out.buffer);
  for (let i = 0; i < values.length; i++) view.setFloat32(i * 4, values[i] ?? 0, true);
  return out;
}

function littleEndianInt64(values: readonly number[]): Uint8Array {
  const out = new Uint8Array(values.length * 8);
  const view = new DataView(out.buffer);
  for (let i = 0; i < values.length; i++) view.setBigInt64(i * 8, BigInt(values[i] ?? 0), true);
  return out;
}

/** Serialise the static embedding model as an ONNX ModelProto. */
export function writeStaticEmbeddingOnnx(g: StaticModelGraph): Uint8Array {
  if (g.table.length !== g.vocabSize * g.dimension) throw new Error("table size does not match vocabSize x dimension");
  if (g.scales.length !== g.vocabSize) throw new Error("scales size does not match vocabSize");

  const graph = new ProtoWriter();
  graph.message(1, node("Gather", "gather_rows", ["embedding_table", "input_ids"], ["token_rows_int8"], { axis: 0 }));
  graph.message(1, node("Cast", "cast_rows", ["token_rows_int8"], ["token_rows"], { to: FLOAT }));
  graph.message(1, node("Gather", "gather_scales", ["row_scales", "input_ids"], ["token_scales"], { axis: 0 }));
  graph.message(1, node("Cast", "cast_mask", ["attention_mask"], ["mask_float"], { to: FLOAT }));
  graph.message(1, node("Mul", "mask_scales", ["token_scales", "mask_float"], ["masked_scales"]));
  graph.message(1, node("Unsqueeze", "expand_scales", ["masked_scales", "unsqueeze_axes"], ["masked_scales_3d"]));
  graph.message(1, node("Mul", "scale_rows", ["token_rows", "masked_scales_3d"], ["last_hidden_state"]));
  graph.message(1, node("ReduceSum", "sum_tokens", ["last_hidden_state", "axis_1"], ["token_sum"], { keepdims: 0 }));
  graph.message(1, node("ReduceSum", "count_tokens", ["mask_float", "axis_1"], ["token_count"], { keepdims: 1 }));
  graph.message(1, node("Max", "clamp_count", ["token_count", "one"], ["token_count_safe"]));
  graph.message(1, node("Div", "mean_tokens", ["token_sum", "token_count_safe"], ["sentence_embedding"]));
  graph.string(2, "mrag_static_embedding");
  graph.message(
    5,
    tensor(
      "embedding_table",
      INT8,
      [g.vocabSize, g.dimension],
      new Uint8Array(g.table.buffer, g.table.byteOffset, g.table.byteLength),
    ),
  );
  graph.message(5, tensor("row_scales", FLOAT, [g.vocabSize], littleEndianFloats(g.scales)));
  graph.message(5, tensor("unsqueeze_axes", INT64, [1], littleEndianInt64([2])));
  graph.message(5, tensor("axis_1", INT64, [1], littleEndianInt64([1])));
  graph.message(5, tensor("one", FLOAT, [], littleEndianFloats(Float32Array.of(1))));
  graph.string(10, g.docString);
  graph.message(11, valueInfo("input_ids", INT64, ["batch_size", "sequence_length"]));
  graph.message(11, valueInfo("attention_mask", INT64, ["batch_size", "sequence_length"]));
  graph.message(12, valueInfo("last_hidden_state", FLOAT, ["batch_size", "sequence_length", g.dimension]));
  graph.message(12, valueInfo("sentence_embedding", FLOAT, ["batch_size", g.dimension]));

  const model = new ProtoWriter();
  model.int(1, 8); // ir_version
  model.string(2, "mrag-build-model");
  model.string(3, g.producerVersion);
  model.string(4, "mrag");
  model.int(5, 1); // model_version
  model.string(6, g.docString);
  model.message(7, graph);
  model.message(8, new ProtoWriter().string(1, "").int(2, OPSET)); // opset_import: default domain
  for (const [key, value] of Object.entries(g.metadata ?? {})) {
    model.message(14, new ProtoWriter().string(1, key).string(2, value));
  }
  return model.finish();
}
