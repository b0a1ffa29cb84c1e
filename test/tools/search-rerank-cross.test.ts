import { execFileSync } from "node:child_process";
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type BertConfig, readSafetensors, writeBertOnnx } from "../../scripts/model/bert-onnx.js";
import { loadReranker } from "../../src/embed/rerank.js";
import { embeddingText } from "../../src/ingest/sync.js";
import { runIngest } from "../../src/tools/ingest.js";
import { searchHandler } from "../../src/tools/search.js";
import { pythonEnv } from "../helpers/milvus-lite.js";
import { makeWorkspace, REPO_ROOT, type Workspace } from "../helpers/workspace.js";

const MINILM = path.join(REPO_ROOT, "models/hf/all-MiniLM-L6-v2");
const QUERY = "Where does Milvus store its data?";
const CANDIDATES = 4;

/**
 * The cross-encoder path on a real `BertForSequenceClassification` graph: all-MiniLM-L6-v2's encoder and
 * pooler weights, written by the project's ONNX writer (scripts/model/bert-onnx.ts) with a classifier head
 * defined here. No trained cross-encoder's weights are reachable from this machine (no Hugging Face hub, no
 * PyPI package ships ms-marco-MiniLM or a bge reranker), so the head is NOT trained and its ranking means
 * nothing about relevance. What this checks is the mechanics a real one (hf:Xenova/ms-marco-MiniLM-L-6-v2)
 * goes through: detection from config.json, query/passage pairs with token types 0/1, the logit read from
 * `logits`, the logistic, and the search order following those scores, against an independent numpy forward
 * pass (test/embed/minilm_reference.py --classify).
 */
describe("search with a cross-encoder reranker (BertForSequenceClassification, untrained head)", () => {
  let dir: string;
  let folder: string;
  let ws: Workspace;
  const hidden = 384;
  // A fixed head: one label, weights spread over the pooled dimensions.
  const weight = Float32Array.from({ length: hidden }, (_, i) => 0.2 * Math.sin(1.7 * i + 0.3));
  const bias = Float32Array.of(-0.1);

  /** BertForSequenceClassification's logits for (query, passage) pairs, from the numpy reference. */
  async function referenceLogits(query: string, passages: readonly string[]): Promise<number[]> {
    const { AutoTokenizer } = await import("@huggingface/transformers");
    const tokenizer = await AutoTokenizer.from_pretrained(folder, { local_files_only: true });
    const pairs = passages.map((p) => {
      const enc = tokenizer(query, { text_pair: p, truncation: true, return_tensor: false }) as unknown as {
        input_ids: number[];
        token_type_ids: number[];
      };
      return { ids: enc.input_ids.map(Number), types: enc.token_type_ids.map(Number) };
    });
    // The token types really mark the passage: 0 up to the first [SEP], then 1.
    for (const p of pairs) expect(new Set(p.types)).toEqual(new Set([0, 1]));
    const out = execFileSync(
      pythonEnv(),
      [path.join(REPO_ROOT, "test/embed/minilm_reference.py"), MINILM, "--classify"],
      {
        input: JSON.stringify({ pairs, weight: [Array.from(weight)], bias: Array.from(bias) }),
        encoding: "utf8",
        maxBuffer: 64 * 1024 * 1024,
      },
    );
    return (JSON.parse(out) as number[][]).map((row) => row[0]!);
  }

  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), "mrag-cross-"));
    folder = path.join(dir, "minilm-cross-encoder");
    mkdirSync(path.join(folder, "onnx"), { recursive: true });
    const config = JSON.parse(readFileSync(path.join(MINILM, "config.json"), "utf8")) as BertConfig &
      Record<string, unknown>;
    writeFileSync(
      path.join(folder, "config.json"),
      JSON.stringify({
        ...config,
        architectures: ["BertForSequenceClassification"],
        id2label: { "0": "LABEL_0" },
        label2id: { LABEL_0: 0 },
      }),
    );
    for (const file of ["tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"]) {
      copyFileSync(path.join(MINILM, file), path.join(folder, file));
    }
    const weights = readSafetensors(readFileSync(path.join(MINILM, "model.safetensors")));
    writeFileSync(
      path.join(folder, "onnx", "model.onnx"),
      writeBertOnnx(weights, config, {
        quantize: false,
        docString: "test: all-MiniLM-L6-v2 encoder + pooler, untrained one-label head",
        classifier: { weight, bias },
      }),
    );
    ws = makeWorkspace({ flags: { "search.rerankModel": `hf:${folder}`, "search.rerankCandidates": CANDIDATES } });
    await runIngest(ws.context, { inputs: [ws.docs] });
  }, 300_000);
  afterAll(async () => {
    await ws?.cleanup();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("is loaded as a cross-encoder; its scores are the logistic of the numpy reference's logits", async () => {
    const reranker = await loadReranker(`hf:${folder}`);
    expect(reranker.kind).toBe("cross-encoder");
    const passages = [
      "Milvus stores data in persistent object storage such as MinIO or S3, as incremental logs.",
      "Cats sleep most of the day.",
    ];
    const scores = await reranker.score(QUERY, passages);
    const logits = await referenceLogits(QUERY, passages);
    for (const [i, s] of scores.entries()) expect(s).toBeCloseTo(1 / (1 + Math.exp(-logits[i]!)), 4);
    expect(scores[0]).not.toBeCloseTo(scores[1]!, 4);
  }, 300_000);

  it("search orders the first rerankCandidates fused hits by those scores; the rest keep their place", async () => {
    const before = await searchHandler(ws.context, { query: QUERY, k: 8, rerank: false, snippet_chars: 0 });
    const after = await searchHandler(ws.context, { query: QUERY, k: 8, rerank: true, snippet_chars: 0 });
    const head = before.hits.slice(0, CANDIDATES).map((h) => h.id);
    const collection = await ws.context.collection({ create: false });
    const stored = new Map((await collection.getByIds(head)).map((c) => [c.id, c]));
    const logits = await referenceLogits(
      QUERY,
      head.map((id) => embeddingText(stored.get(id)!)),
    );
    const expected = head
      .map((id, i) => ({ id, score: 1 / (1 + Math.exp(-logits[i]!)) }))
      .sort((a, b) => b.score - a.score);
    expect(after.hits.slice(0, CANDIDATES).map((h) => h.id)).toEqual(expected.map((e) => e.id));
    for (const [i, e] of expected.entries()) expect(after.hits[i]!.score).toBeCloseTo(e.score, 3);
    expect(after.hits.slice(CANDIDATES)).toEqual(before.hits.slice(CANDIDATES));
  }, 300_000);
});
