/**
 * The agent against a scripted gpt-oss server and the real store (LanceDB + the builtin embedder) over the
 * HotpotQA slice: one ingest per test file, one scripted server and agent per test.
 */
import { cpSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, afterEach, beforeAll, expect } from "vitest";
import { type Agent, createAgent } from "../../src/agent/index.js";
import { createLlmClient } from "../../src/agent/llm.js";
import type { PresetName } from "../../src/agent/types.js";
import { loadConfig } from "../../src/config/index.js";
import { silentLogger } from "../../src/log.js";
import { createContext, type MragContext } from "../../src/tools/context.js";
import { runIngest } from "../../src/tools/ingest.js";
import { passagesIn, SLICE } from "../helpers/agent.js";
import {
  type RecordedRequest,
  type ScriptedServer,
  type ScriptedTurn,
  type ServerProfile,
  startScriptedServer,
} from "./scripted-server.js";

export interface AgentFixture {
  readonly context: MragContext;
  readonly dir: string;
  setUp(
    profile: ServerProfile,
    turns: ScriptedTurn[] | ((request: RecordedRequest, index: number) => ScriptedTurn),
    preset?: PresetName,
  ): Promise<{ server: ScriptedServer; agent: Agent }>;
}

/** Registers the hooks; call at the top of a test file. */
export function useAgentFixture(): AgentFixture {
  let dir = "";
  let context: MragContext | undefined;
  let server: ScriptedServer | undefined;
  let agent: Agent | undefined;
  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), "mrag-agent-"));
    cpSync(SLICE, path.join(dir, "corpus"), {
      recursive: true,
      filter: (src) => !src.endsWith("ATTRIBUTION.md") && !src.endsWith(".json"),
    });
    const { config } = loadConfig({ cwd: dir, env: {}, flags: { store: path.join(dir, "store") } });
    context = createContext(config, { cwd: dir, logger: silentLogger });
    const summary = await runIngest(context, { inputs: ["corpus"] });
    expect(summary.added.length).toBe(30);
  });
  afterAll(async () => {
    await context?.close();
    rmSync(dir, { recursive: true, force: true });
  });
  afterEach(async () => {
    await agent?.close();
    await server?.close();
    agent = undefined;
    server = undefined;
  });
  return {
    get context() {
      return context as MragContext;
    },
    get dir() {
      return dir;
    },
    async setUp(profile, turns, preset = profile) {
      await agent?.close();
      await server?.close();
      server = await startScriptedServer({ profile, turns });
      const llm = createLlmClient(
        { preset, baseUrl: server.url, model: "gpt-oss-20b", maxRetries: 2 },
        { backoffMs: 1 },
      );
      agent = await createAgent(context as MragContext, { llm });
      return { server, agent };
    },
  };
}

/** A model that answers with final_answer citing the passages whose source matches, quoting their text. */
export function finalAnswer(request: RecordedRequest, sources: RegExp[], answer = "Stephen King"): ScriptedTurn {
  const passages = passagesIn(request);
  const citations = sources.map((re) => {
    const p = passages.find((x) => re.test(x.source));
    if (!p) throw new Error(`no passage from ${re} in the request`);
    return { id: String(p.n), source: p.source, quote: p.text.slice(0, 80) };
  });
  return {
    reasoning: "I have what I need.",
    toolCalls: [{ name: "final_answer", arguments: { answer, citations, confidence: "high", unanswerable: false } }],
  };
}

/** The messages of a request, typed loosely. */
export function messagesOf(request: RecordedRequest | undefined): Array<Record<string, unknown> & { role: string }> {
  return request?.messages ?? [];
}
