import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { builtinModelDir, createBuiltinEmbedder } from "../../src/embed/builtin.js";
import { createHfEmbedder } from "../../src/embed/hf.js";
import { conventionsFor, prefixesFor } from "../../src/embed/transformers.js";
import { EmbeddingError, UsageError } from "../../src/errors.js";

function dot(a: Float32Array, b: Float32Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]! * b[i]!;
  return s;
}

describe("hf: embedder with a local model folder", () => {
  let root: string;
  let folder: string;

  beforeAll(() => {
    // A transformers.js folder with another name and layout than models/builtin: no manifest, and the
    // weights only as onnx/model_quantized.onnx (so the provider must pick dtype q8 by itself).
    root = mkdtempSync(path.join(tmpdir(), "mrag-hf-"));
    folder = path.join(root, "my org", "static-model");
    mkdirSync(path.join(folder, "onnx"), { recursive: true });
    const src = builtinModelDir();
    for (const f of ["config.json", "tokenizer.json", "tokenizer_config.json"]) {
      copyFileSync(path.join(src, f), path.join(folder, f));
    }
    copyFileSync(path.join(src, "onnx", "model.onnx"), path.join(folder, "onnx", "model_quantized.onnx"));
  });

  afterAll(() => {
    rmSync(root, { recursive: true, force: true });
  });

  it("loads hf:<absolute folder> offline and embeds like the builtin model", async () => {
    const hf = createHfEmbedder(`hf:${folder}`, { allowRemote: false });
    const builtin = createBuiltinEmbedder();
    try {
      expect(hf.modelId).toBe(`hf:${folder}`);
      await hf.init();
      expect(hf.dimension).toBe(256);
      const texts = ["How is data stored in milvus?", "Kubernetes operators manage etcd clusters."];
      const a = await hf.embedDocuments(texts);
      const b = await builtin.embedDocuments(texts);
      for (let i = 0; i < texts.length; i++) {
        expect(dot(a[i]!, a[i]!)).toBeCloseTo(1, 5);
        expect(dot(a[i]!, b[i]!)).toBeCloseTo(1, 5);
      }
      const q = await hf.embedQuery("where is data stored");
      expect(q.length).toBe(256);
    } finally {
      await hf.close();
      await builtin.close();
    }
  });

  it("resolves relative folders to an absolute model id", () => {
    const rel = path.relative(process.cwd(), folder);
    const hf = createHfEmbedder(`hf:./${rel}`);
    expect(hf.modelId).toBe(`hf:${folder}`);
  });

  it("honours a sentence-transformers 1_Pooling/config.json (CLS pooling)", async () => {
    const cls = path.join(root, "cls-model");
    mkdirSync(path.join(cls, "onnx"), { recursive: true });
    mkdirSync(path.join(cls, "1_Pooling"));
    for (const f of ["config.json", "tokenizer.json", "tokenizer_config.json", "onnx/model.onnx"]) {
      copyFileSync(path.join(builtinModelDir(), f), path.join(cls, f));
    }
    writeFileSync(path.join(cls, "1_Pooling", "config.json"), JSON.stringify({ pooling_mode_cls_token: true }));
    const mean = createHfEmbedder(`hf:${folder}`);
    const first = createHfEmbedder(`hf:${cls}`);
    try {
      // With CLS pooling only the first token counts: "milvus" alone.
      const [a] = await first.embedDocuments(["milvus stores vectors"]);
      const [b] = await mean.embedDocuments(["milvus"]);
      const [c] = await mean.embedDocuments(["milvus stores vectors"]);
      expect(dot(a!, b!)).toBeCloseTo(1, 5);
      expect(dot(a!, c!)).toBeLessThan(0.99);
    } finally {
      await mean.close();
      await first.close();
    }
  });

  it("says clearly that a missing folder does not exist", () => {
    const missing = path.join(root, "no-such-model");
    expect(() => createHfEmbedder(`hf:${missing}`)).toThrow(EmbeddingError);
    expect(() => createHfEmbedder(`hf:${missing}`)).toThrow(/does not exist/);
  });

  it("says a hub model needs a download when downloads are off", async () => {
    const cacheDir = path.join(root, "empty-cache");
    const hf = createHfEmbedder("hf:Xenova/bge-small-en-v1.5", { allowRemote: false, cacheDir });
    expect(hf.modelId).toBe("hf:Xenova/bge-small-en-v1.5");
    await expect(hf.init()).rejects.toThrow(EmbeddingError);
    await expect(hf.init()).rejects.toThrow(/not found.*downloads are off/);
  });

  it("rejects an empty spec", () => {
    expect(() => createHfEmbedder("hf:")).toThrow(UsageError);
  });
});

describe("model conventions", () => {
  it("knows the prefixes of e5, bge and nomic", () => {
    expect(prefixesFor("intfloat/e5-small-v2")).toEqual({ queryPrefix: "query: ", documentPrefix: "passage: " });
    expect(prefixesFor("Xenova/multilingual-e5-base")).toEqual({ queryPrefix: "query: ", documentPrefix: "passage: " });
    expect(prefixesFor("Xenova/bge-small-en-v1.5")).toEqual({
      queryPrefix: "Represent this sentence for searching relevant passages: ",
    });
    expect(conventionsFor("BAAI/bge-base-en-v1.5").pooling).toBe("cls");
    expect(prefixesFor("BAAI/bge-m3")).toEqual({});
    expect(conventionsFor("Xenova/bge-m3").pooling).toBe("cls");
    expect(prefixesFor("nomic-ai/nomic-embed-text-v1.5")).toEqual({
      queryPrefix: "search_query: ",
      documentPrefix: "search_document: ",
    });
    expect(prefixesFor("nomic-embed-text")).toEqual({
      queryPrefix: "search_query: ",
      documentPrefix: "search_document: ",
    });
    expect(prefixesFor("Xenova/all-MiniLM-L6-v2")).toEqual({});
    expect(prefixesFor("/models/gte-small")).toEqual({});
  });
});
