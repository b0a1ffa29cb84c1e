/**
 * The agent loop's own overhead: what `runAgent` costs per step beyond the model and the tools.
 *
 *   node dist/bench/agent.js --work <dir> --out <result.json> [--size 10000] [--questions 200] [--warmup 10]
 *
 * Needs `<work>/search-data/` from search-prepare.js (real chunks embedded with the builtin model) and
 * `npm run build:ts`. Builds a store of `size` real chunks (a random subset, as bench/mcp.ts does), then, in
 * this process, `createAgent(context, { llm })` with the real store, the real builtin embedder and mrag's own
 * MCP server connected in-process (as `mrag ask` does), but an LLM client that answers at once from a script:
 * model time is excluded from the overhead by definition, so a fake model costs nothing that matters. Each
 * question takes three steps: `search` (the question), `search` (another question of the set), then
 * `final_answer` citing the first passage of each result with a quote from it, so citations are checked too.
 *
 * Per question: overhead = `AgentResult.ms - modelMs - toolMs` (prompt and message building, tool-call
 * planning and argument parsing, passage numbering and rendering, answer parsing and citation checks, events),
 * divided by its steps for the per-step figure. The fake reports its own wall time as the turn's `ms`, so its
 * script is model time, not overhead. Separately, per tool call: the agent's view of the call
 * (`ToolHost.call`: SDK client, in-memory transport, mrag's MCP server, the search handler), the store's own
 * `Collection.search` and the embedder's `embedQuery` inside it (timed by wrapping the context), and the
 * difference: the MCP round trip and the handler's own work. Numbers only; nothing is asserted.
 */
import { rmSync } from "node:fs";
import { mkdir } from "node:fs/promises";
import path from "node:path";
import { performance } from "node:perf_hooks";
import { createAgent } from "../src/agent/index.js";
import { PRESETS } from "../src/agent/presets.js";
import type { AssistantTurn, ChatRequest, LlmClient, RawToolCall } from "../src/agent/types.js";
import { loadConfig } from "../src/config/index.js";
import type { Embedder } from "../src/embed/types.js";
import { silentLogger } from "../src/log.js";
import type { Collection } from "../src/store/types.js";
import { createContext, type MragContext } from "../src/tools/context.js";
import { childArgs, writeResult } from "./lib/child.js";
import type { AgentOverheadResult } from "./lib/results.js";
import { BENCH_COLLECTION } from "./lib/search-data.js";
import { buildSubsetStore } from "./lib/subset-store.js";
import { fmt, log, peakRssMb, summarize } from "./lib/util.js";

// ------------------------------------------------------------------------------------------------- store

/** The same store bench/mcp.ts builds: `size` real chunks, a seeded random subset, upserted then optimized. */

// ------------------------------------------------------------------------------- timing the search work

/** Milliseconds spent in the store's search and the embedder's embedQuery, accumulated. */
interface SearchClock {
  storeMs: number;
  storeCalls: number;
  embedMs: number;
  embedCalls: number;
}

/** `target` with one method timed into `clock`; every other member read from (and bound to) the target. */
function timed<T extends object>(target: T, method: keyof T & string, add: (ms: number) => void): T {
  return new Proxy(target, {
    get(t, prop) {
      const value = Reflect.get(t, prop, t) as unknown;
      if (typeof value !== "function") return value;
      if (prop !== method) return value.bind(t);
      return async (...args: unknown[]) => {
        const t0 = performance.now();
        try {
          return await (value as (...a: unknown[]) => Promise<unknown>).apply(t, args);
        } finally {
          add(performance.now() - t0);
        }
      };
    },
  });
}

/** The context with `Collection.search` and `Embedder.embedQuery` timed; everything else is the original. */
function instrument(context: MragContext, clock: SearchClock): MragContext {
  const collections = new Map<string, Promise<Collection>>();
  let embedder: Promise<Embedder> | undefined;
  return {
    ...context,
    embedder() {
      embedder ??= context.embedder().then((e) =>
        timed(e, "embedQuery", (ms) => {
          clock.embedMs += ms;
          clock.embedCalls++;
        }),
      );
      return embedder;
    },
    collection(options) {
      const key = String(options.create);
      let pending = collections.get(key);
      if (!pending) {
        pending = context.collection(options).then((c) =>
          timed(c, "search", (ms) => {
            clock.storeMs += ms;
            clock.storeCalls++;
          }),
        );
        collections.set(key, pending);
      }
      return pending;
    },
  };
}

// ------------------------------------------------------------------------------------------- the model

const HEADER = /^【(\d+)】\s+(\S+?)(?::\d+(?:-\d+)?)?(?:\s|$)/;

/** The first passage of a tool message: its number, source and a quote from its first line of prose. */
function firstPassage(content: string): { id: string; source: string; quote: string } | undefined {
  const lines = content.split("\n");
  const at = lines.findIndex((l) => HEADER.test(l));
  if (at < 0) return undefined;
  const m = HEADER.exec(lines[at]!)!;
  const end = lines.findIndex((l, j) => j > at && HEADER.test(l));
  const block = lines.slice(at + 1, end < 0 ? undefined : end);
  const text =
    block.find((l) => l.trim() !== "" && !/^(id:|#|\(snippet;)/.test(l.trim())) ??
    block.find((l) => l.trim() !== "" && !l.startsWith("id:"));
  if (!text) return undefined;
  return { id: m[1]!, source: m[2]!, quote: text.trim().slice(0, 60) };
}

/**
 * An LLM client that answers at once: search the question, search `second`, then `final_answer` citing the
 * first passage of each result. Its `ms` is its own wall time, so the loop counts the script as model time.
 */
class ScriptedModel implements LlmClient {
  readonly preset = PRESETS.vllm;
  readonly baseUrl = "in-process";
  readonly model = "scripted";
  /** The query of the second search of the current question. */
  second = "";
  private calls = 0;

  async complete(request: ChatRequest): Promise<AssistantTurn> {
    const t0 = performance.now();
    const toolResults = request.messages.flatMap((m) => (m.role === "tool" ? [m.content] : []));
    const question = request.messages.findLast((m) => m.role === "user")?.content ?? "";
    const call = (name: string, args: Record<string, unknown>): RawToolCall => ({
      id: `call_${++this.calls}`,
      name,
      arguments: JSON.stringify(args),
    });
    let toolCalls: RawToolCall[];
    let reasoning: string;
    if (toolResults.length === 0) {
      reasoning = "Search for the question first.";
      toolCalls = [call("search", { query: question })];
    } else if (toolResults.length === 1) {
      reasoning = "Now the second part.";
      toolCalls = [call("search", { query: this.second })];
    } else {
      reasoning = "I have what I need.";
      const citations = toolResults.flatMap((c) => {
        const p = firstPassage(c);
        return p ? [p] : [];
      });
      toolCalls = [
        call("final_answer", {
          answer: "An answer from the passages.",
          citations,
          confidence: "medium",
          unanswerable: citations.length === 0,
        }),
      ];
    }
    request.onDelta?.({ reasoning });
    return {
      content: "",
      reasoning,
      toolCalls,
      finishReason: "tool_calls",
      usage: { promptTokens: 1000, completionTokens: 50 },
      ms: performance.now() - t0,
      attempts: 1,
    };
  }
}

// -------------------------------------------------------------------------------------------------- main

interface QuestionSample {
  ms: number;
  modelMs: number;
  toolMs: number;
  steps: number;
  overheadMs: number;
}

async function main(): Promise<void> {
  const args = childArgs(["work", "size", "questions", "warmup"] as const);
  if (!args.work) throw new Error("missing --work <dir>");
  const size = Number(args.size ?? 10_000);
  const questions = Number(args.questions ?? 200);
  const warmup = Number(args.warmup ?? 10);
  for (const [name, v] of Object.entries({ size, questions })) {
    if (!Number.isInteger(v) || v <= 0) throw new Error(`--${name} must be a positive integer`);
  }
  if (!Number.isInteger(warmup) || warmup < 0) throw new Error("--warmup must be a non-negative integer");

  const cwd = path.join(args.work, "agent");
  await mkdir(cwd, { recursive: true });
  const storeDir = path.join(cwd, "store");
  log(`building a store of ${size} real chunks`);
  const tb = performance.now();
  const built = await buildSubsetStore(args.work, storeDir, size, "agent");
  const storeBuildSeconds = (performance.now() - tb) / 1000;

  const { config } = loadConfig({
    cwd,
    env: {},
    flags: { store: storeDir, collection: BENCH_COLLECTION },
  });
  const base = createContext(config, { cwd, logger: silentLogger });
  const clock: SearchClock = { storeMs: 0, storeCalls: 0, embedMs: 0, embedCalls: 0 };
  const context = instrument(base, clock);
  const llm = new ScriptedModel();
  try {
    const tc = performance.now();
    const agent = await createAgent(context, { llm });
    const createAgentMs = performance.now() - tc;
    log(`createAgent: ${fmt(createAgentMs)} ms, tools ${agent.host.tools.map((t) => t.name).join(", ")}`);

    const queries = built.queries;
    const samples: QuestionSample[] = [];
    const callMs: number[] = [];
    const storeMs: number[] = [];
    const embedMs: number[] = [];
    const mcpMs: number[] = [];
    const stopReasons: Record<string, number> = {};
    let kept = 0;
    let removed = 0;
    let firstQuestionMs = 0;

    const total = warmup + questions;
    for (let i = 0; i < total; i++) {
      const timedRun = i >= warmup;
      const question = queries[i % queries.length]!;
      llm.second = queries[(i * 7 + 3) % queries.length]!;
      // Per tool call: the store and embedder time spent between its tool_call and tool_result events (one
      // call per turn here, so nothing overlaps).
      let mark = { store: 0, embed: 0 };
      const result = await agent.ask(question, {
        onEvent: (event) => {
          if (event.type === "tool_call") mark = { store: clock.storeMs, embed: clock.embedMs };
          if (event.type === "tool_result" && timedRun) {
            const s = clock.storeMs - mark.store;
            const e = clock.embedMs - mark.embed;
            callMs.push(event.ms);
            storeMs.push(s);
            embedMs.push(e);
            mcpMs.push(event.ms - s - e);
          }
        },
      });
      if (i === 0) {
        firstQuestionMs = result.ms;
        log(`first question: ${fmt(result.ms)} ms (tool ${fmt(result.toolMs)} ms: opens the store, loads the model)`);
      }
      if (!timedRun) continue;
      const overheadMs = result.ms - result.modelMs - result.toolMs;
      samples.push({
        ms: result.ms,
        modelMs: result.modelMs,
        toolMs: result.toolMs,
        steps: result.steps.length,
        overheadMs,
      });
      stopReasons[result.stopReason] = (stopReasons[result.stopReason] ?? 0) + 1;
      kept += result.answer.citations.length;
      removed += result.removedCitations.length;
      if ((i - warmup + 1) % 50 === 0) log(`${i - warmup + 1}/${questions} questions`);
    }
    await agent.close();

    const steps = samples.reduce((n, s) => n + s.steps, 0);
    const overhead = samples.reduce((n, s) => n + s.overheadMs, 0);
    const result: AgentOverheadResult = {
      storeChunks: built.chunks,
      storeBuildSeconds,
      queries: queries.length,
      questions: samples.length,
      warmupQuestions: warmup,
      steps,
      toolCalls: callMs.length,
      createAgentMs,
      firstQuestionMs,
      meanOverheadPerStepMs: overhead / Math.max(1, steps),
      overheadPerQuestion: summarize(samples.map((s) => s.overheadMs)),
      overheadPerStep: summarize(samples.map((s) => s.overheadMs / s.steps)),
      question: summarize(samples.map((s) => s.ms)),
      model: summarize(samples.map((s) => s.modelMs)),
      toolCall: summarize(callMs),
      storeSearch: summarize(storeMs),
      embedQuery: summarize(embedMs),
      mcpRoundTrip: summarize(mcpMs),
      citations: { kept, removed },
      stopReasons,
      peakRssMb: peakRssMb(),
    };
    log(
      `overhead per step: mean ${fmt(result.meanOverheadPerStepMs)} ms; per question p50 ` +
        `${fmt(result.overheadPerStep.p50)} p95 ${fmt(result.overheadPerStep.p95)} max ` +
        `${fmt(result.overheadPerStep.max)} ms; MCP round trip beyond store + embed p50 ` +
        `${fmt(result.mcpRoundTrip.p50)} ms; citations kept ${kept}, removed ${removed}`,
    );
    await writeResult(args.out, result);
  } finally {
    await base.close();
    rmSync(storeDir, { recursive: true, force: true });
  }
}

await main();
