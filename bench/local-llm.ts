/**
 * The `local` preset on this machine: a GGUF model in-process (node-llama-cpp), measured, never asserted.
 *
 *   npm run build:ts && bash scripts/fetch-test-model.sh
 *   node dist/bench/local-llm.js [--model file.gguf] [--threads 1] [--runs 3] [--max-steps 2]
 *
 * Reports: model load time (node-llama-cpp import and binary, GGUF, context), and per whole `ask` on the
 * Milvus FAQ (examples/milvus-faq, ingested into a temporary embedded store with the builtin embedder): the
 * time to the first token of each model turn (prompt evaluation), prompt tokens/s, generation tokens/s, and
 * the whole `ask`. The first `ask` is the cold one (model load included); the others reuse the loaded model.
 */
import { spawnSync } from "node:child_process";
import { cpSync, mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import { createAgent } from "../src/agent/index.js";
import { createLocalLlmClient, type LocalTurnTimings } from "../src/agent/local/client.js";
import { disposeLocalModels } from "../src/agent/local/runtime.js";
import type { ChatRequest } from "../src/agent/types.js";
import { loadConfig } from "../src/config/index.js";
import { silentLogger } from "../src/log.js";
import { packageRoot } from "../src/paths.js";
import { createContext } from "../src/tools/context.js";

const { values } = parseArgs({
  options: {
    model: { type: "string", default: path.join(packageRoot(), ".cache/test-models/SmolLM2-135M-Instruct.Q4_1.gguf") },
    threads: { type: "string", default: "1" },
    runs: { type: "string", default: "3" },
    // As the end-to-end test: the tiny model repeats its search until the step budget, so the budget sets the time.
    "max-steps": { type: "string", default: "2" },
    question: { type: "string", default: "What is the maximum dimension of a vector in Milvus?" },
  },
});

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? Number.NaN;
const r1 = (x: number) => Math.round(x * 10) / 10;

async function main(): Promise<void> {
  const dir = mkdtempSync(path.join(os.tmpdir(), "mrag-bench-local-"));
  try {
    cpSync(path.join(packageRoot(), "examples/milvus-faq"), path.join(dir, "docs"), { recursive: true });
    const { config } = loadConfig({
      cwd: dir,
      env: {},
      flags: {
        store: path.join(dir, "store"),
        "llm.preset": "local",
        "llm.model": values.model,
        "llm.local.threads": Number(values.threads),
        "llm.local.gpuLayers": 0,
        "llm.local.contextSize": 4096,
        "llm.local.maxTokens": 256,
        "llm.local.temperature": 0,
      },
    });
    const context = createContext(config, { cwd: dir, logger: silentLogger });
    const ingest = spawnSync(process.execPath, [path.join(packageRoot(), "bin/mrag.js"), "ingest", "docs"], {
      cwd: dir,
      env: { ...process.env, MRAG_STORE: path.join(dir, "store") },
    });
    if (ingest.status !== 0) throw new Error(`ingest failed: ${ingest.stderr}`);

    const llm = createLocalLlmClient(config.llm);
    const turns: LocalTurnTimings[] = [];
    const timed = {
      ...llm,
      complete: async (request: ChatRequest) => {
        const turn = await llm.complete(request);
        if (llm.lastTimings) turns.push(llm.lastTimings);
        return turn;
      },
    };
    const loadStarted = performance.now();
    const loaded = await llm.ready();
    const loadMs = performance.now() - loadStarted;
    const agent = await createAgent(context, { llm: timed });
    const asks: number[] = [];
    for (let i = 0; i < Number(values.runs); i++) {
      const t0 = performance.now();
      const result = await agent.ask(values.question, { maxSteps: Number(values["max-steps"]) });
      asks.push(performance.now() - t0);
      process.stderr.write(
        `ask ${i + 1}: ${Math.round(asks.at(-1) ?? 0)} ms, ${result.steps.length} steps, ${result.toolCalls} tool calls, ${result.answer.citations.length} citations\n`,
      );
    }
    await agent.close();
    await context.close();
    const promptRate = turns.map((t) => t.promptTokens / (t.firstTokenMs / 1000));
    const genRate = turns
      .filter((t) => t.completionTokens > 1)
      .map((t) => (t.completionTokens - 1) / (t.generationMs / 1000));
    const out = {
      model: path.basename(values.model),
      architecture: loaded.architecture,
      format: loaded.format,
      threads: Number(values.threads),
      maxSteps: Number(values["max-steps"]),
      cpu: os.cpus()[0]?.model,
      cores: os.availableParallelism(),
      loadAverage: os.loadavg()[0],
      loadMs: Math.round(loadMs),
      turns: turns.length,
      medianPromptTokens: median(turns.map((t) => t.promptTokens)),
      medianFirstTokenMs: Math.round(median(turns.map((t) => t.firstTokenMs))),
      medianPromptTokensPerS: r1(median(promptRate)),
      medianGenerationTokensPerS: r1(median(genRate)),
      askMs: asks.map(Math.round),
      medianAskMs: Math.round(median(asks)),
    };
    process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
  } finally {
    await disposeLocalModels();
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
