import { readdirSync, readFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { AutoTokenizer } from "@huggingface/transformers";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { builtinModelDir, createBuiltinEmbedder, readBuiltinManifest } from "../../src/embed/builtin.js";
import type { StaticEmbedder } from "../../src/embed/static.js";
import { FastWordPieceEncoder, TransformersEmbedder } from "../../src/embed/transformers.js";
import { isZeroVector } from "../../src/embed/vector.js";
import { EmbeddingError } from "../../src/errors.js";

const FAQ_DIR = path.join(path.dirname(fileURLToPath(import.meta.url)), "..", "fixtures", "milvus-faq");
const FAQ_FILES = ["operational_faq.md", "performance_faq.md", "product_faq.md", "troubleshooting.md"];
const HOTPOT_DIR = path.join(path.dirname(fileURLToPath(import.meta.url)), "..", "fixtures", "hotpotqa-slice");

/** The gpt-oss + Milvus tutorial's chunks: each FAQ page split on "# " (72 chunks). */
function faqChunks(): string[] {
  return FAQ_FILES.flatMap((f) => readFileSync(path.join(FAQ_DIR, f), "utf8").split("# "));
}

/** Sentences of the FAQ and the HotpotQA slice (a few hundred, of every length), plus odd inputs. */
function sentences(): string[] {
  const hotpot = readdirSync(HOTPOT_DIR)
    .filter((f) => f.endsWith(".md") && f !== "ATTRIBUTION.md")
    .sort()
    .map((f) => readFileSync(path.join(HOTPOT_DIR, f), "utf8"));
  const all = [...faqChunks(), ...hotpot].flatMap((t) => t.split(/(?<=[.?!])\s+/)).filter((t) => t.trim());
  return [...all.slice(0, 400), "", "?!", "Milvus", "ÜNÏCÖDÉ 中文 😀 https://example.com/x", "x ".repeat(3000)];
}

function dot(a: Float32Array, b: Float32Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]! * b[i]!;
  return s;
}

function norm(a: Float32Array): number {
  return Math.sqrt(dot(a, a));
}

describe("builtin embedder (mrag-static-en)", () => {
  let embedder: StaticEmbedder;

  beforeAll(async () => {
    embedder = createBuiltinEmbedder();
    await embedder.init();
  });

  afterAll(async () => {
    await embedder.close();
  });

  it("has the id and dimension of its manifest", () => {
    const manifest = readBuiltinManifest();
    expect(embedder.modelId).toBe(`builtin:${manifest.name}@${manifest.version}`);
    expect(embedder.modelId).toMatch(/^builtin:mrag-static-en@\d+$/);
    expect(embedder.dimension).toBe(manifest.dimension);
    expect(embedder.dimension).toBe(256);
    expect(embedder.usesFastTokenizer).toBe(true);
  });

  it("returns unit-length vectors", async () => {
    const vectors = await embedder.embedDocuments([
      "Milvus stores vectors in segments.",
      "A much longer passage about HNSW indexes, etcd metadata and MinIO object storage in Kubernetes clusters.",
      "x",
    ]);
    expect(vectors).toHaveLength(3);
    for (const v of vectors) {
      expect(v).toBeInstanceOf(Float32Array);
      expect(v.length).toBe(256);
      expect(norm(v)).toBeCloseTo(1, 5);
    }
  });

  it("is deterministic and independent of batching and order", async () => {
    const text = "Where does Milvus store data?";
    const a = await embedder.embedQuery(text);
    const b = await embedder.embedQuery(text);
    expect(Array.from(b)).toEqual(Array.from(a));
    const batch = await embedder.embedDocuments(["a short one", text, faqChunks()[20]!]);
    const inBatch = batch[1]!;
    for (let i = 0; i < a.length; i++) expect(inBatch[i]).toBeCloseTo(a[i]!, 6);
  });

  it('ranks "Where does Milvus store data?" first for "How is data stored in milvus?"', async () => {
    const chunks = faqChunks();
    expect(chunks).toHaveLength(72);
    const vectors = await embedder.embedDocuments(chunks);
    const query = await embedder.embedQuery("How is data stored in milvus?");
    const scores = vectors.map((v) => dot(v, query));
    const best = scores.indexOf(Math.max(...scores));
    expect(chunks[best]!.trim().startsWith("Where does Milvus store data?")).toBe(true);
  });

  it("gives texts without any known token the zero vector, which ranks them with nothing", async () => {
    // Chinese, Japanese and Korean sentences from Debian's translated man pages: no token the English model knows.
    const cjk = ["指定给的页选项通常是程序、工具或函数名。", "パスワードを変更する。", "시스템 설명서 페이저입니다."];
    const [empty, blank, punctuation, real, ...foreign] = await embedder.embedDocuments([
      "",
      "   \n\t",
      "?!… —",
      "milvus",
      ...cjk,
    ]);
    const query = await embedder.embedQuery("");
    for (const v of [empty!, blank!, punctuation!, query, ...foreign]) {
      expect(v.length).toBe(256);
      expect(isZeroVector(v)).toBe(true);
      // Before, all of them shared one unit vector: every such chunk scored 1.0 against every such query.
      expect(dot(v, foreign[0]!)).toBe(0);
    }
    expect(norm(real!)).toBeCloseTo(1, 5);
    expect(dot(real!, empty!)).toBe(0);
    expect(await embedder.embedDocuments([])).toEqual([]);
  });

  it("tokenizes exactly like transformers.js (the fast tokenizer)", async () => {
    const dir = builtinModelDir();
    const fast = FastWordPieceEncoder.load(dir);
    expect(fast).not.toBeNull();
    const reference = await AutoTokenizer.from_pretrained(dir, { local_files_only: true });
    const texts = [
      ...faqChunks(),
      "Ünïcödé façade — naïve résumé; ﬁ ligatures, ＦＵＬＬＷＩＤＴＨ, 𝐛𝐨𝐥𝐝 and 中文 text 😀",
      "pgvector vs. qdrant vs. weaviate: HNSW(M=16, efConstruction=200) on k8s with etcd3 & minio",
      "[PAD][UNK] literal specials, ##pieces, snake_case, camelCaseWords, v2.4.6-preview, 0x1F, 1e-9",
    ];
    for (const text of texts) {
      expect(fast!.encode(text)).toEqual((reference.encode(text) as number[]).map(Number));
    }
  });

  it("gives the same vectors as the model's ONNX graph run by transformers.js (cosine >= 0.9999)", async () => {
    const texts = sentences();
    expect(texts.length).toBeGreaterThanOrEqual(300);
    const manifest = readBuiltinManifest();
    // The runtime before the static path: the same folder through transformers.js + ONNX Runtime.
    const reference = new TransformersEmbedder({
      modelId: embedder.modelId,
      model: builtinModelDir(),
      dimension: manifest.dimension,
      batchSize: 64,
      pooling: "mean",
      localFilesOnly: true,
      dtype: "fp32",
      zeroTokenIds: manifest.zeroTokenIds ?? [],
    });
    try {
      await reference.init();
      expect(reference.usesFastTokenizer).toBe(true);
      const expected = await reference.embedDocuments(texts);
      const actual = await embedder.embedDocuments(texts);
      // Texts with no known token ("", "?!") are the zero vector on both paths: equal, though their cosine is 0.
      const zero = texts.map((_, i) => isZeroVector(expected[i]!));
      expect(zero.filter(Boolean).length).toBeGreaterThanOrEqual(2);
      let worst = 1;
      for (let i = 0; i < texts.length; i++) {
        if (zero[i]) expect(isZeroVector(actual[i]!)).toBe(true);
        else worst = Math.min(worst, dot(actual[i]!, expected[i]!));
      }
      expect(worst).toBeGreaterThanOrEqual(0.9999);
    } finally {
      await reference.close();
    }
  });

  it("explains how to build the model when its folder is missing", async () => {
    const dir = await mkdtemp(path.join(tmpdir(), "mrag-no-model-"));
    try {
      expect(() => createBuiltinEmbedder({ dir })).toThrow(EmbeddingError);
      expect(() => createBuiltinEmbedder({ dir })).toThrow(/npm run build:model/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
