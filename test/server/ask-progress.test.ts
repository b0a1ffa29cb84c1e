/**
 * Issue 16 items 7 and 10 through a real MCP client against `mrag serve` (the built CLI over stdio): progress
 * while the model streams one long turn, and a client's cancel of `ask`.
 */
import { cpSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import type { CallToolResult, Progress } from "@modelcontextprotocol/sdk/types.js";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { type ScriptedServer, type ScriptedTurn, startScriptedServer } from "../agent/scripted-server.js";
import { SLICE } from "../helpers/agent.js";
import { MRAG_BIN, runMrag, userEnv } from "../helpers/cli.js";

let dir: string;
let storeDir: string;
let llm: ScriptedServer | undefined;
let client: Client | undefined;

beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), "mrag-ask-progress-"));
  storeDir = path.join(dir, "store");
  cpSync(SLICE, path.join(dir, "corpus"), {
    recursive: true,
    filter: (src) => !src.endsWith("ATTRIBUTION.md") && !src.endsWith("questions.json"),
  });
  const r = await runMrag(["ingest", "corpus"], { cwd: dir, env: { MRAG_STORE: storeDir } });
  expect(r.code, r.stderr).toBe(0);
});
afterEach(async () => {
  await client?.close();
  await llm?.close();
  client = undefined;
  llm = undefined;
});
afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

async function serveWith(turns: (i: number) => ScriptedTurn): Promise<{ client: Client; stderr: () => string }> {
  llm = await startScriptedServer({ profile: "vllm", turns: (_request, i) => turns(i) });
  const transport = new StdioClientTransport({
    command: process.execPath,
    args: [MRAG_BIN, "serve"],
    cwd: dir,
    env: userEnv({
      MRAG_STORE: storeDir,
      MRAG_LOG_LEVEL: "warn",
      MRAG_LLM_PRESET: "vllm",
      MRAG_LLM_BASE_URL: llm.url,
      MRAG_LLM_MODEL: "gpt-oss-20b",
    }),
    stderr: "pipe",
  });
  let stderr = "";
  transport.stderr?.on("data", (d: Buffer) => {
    stderr += d.toString();
  });
  client = new Client({ name: "ask-progress-test", version: "1.0.0" });
  await client.connect(transport);
  return { client, stderr: () => stderr };
}

/** vLLM chunks of one long turn: reasoning in many pieces, then a JSON answer as content. */
function slowTurn(pieces: number, chunkDelayMs: number): ScriptedTurn {
  const chunk = (delta: Record<string, unknown>, finish: string | null = null) => ({
    id: "chatcmpl-slow",
    object: "chat.completion.chunk",
    created: 1,
    model: "gpt-oss-20b",
    choices: [{ index: 0, delta, finish_reason: finish, logprobs: null }],
  });
  const answer = { answer: "The documents do not say.", citations: [], confidence: "low", unanswerable: true };
  return {
    chunkDelayMs,
    rawChunks: [
      chunk({ role: "assistant", content: "" }),
      ...Array.from({ length: pieces }, (_, i) => chunk({ reasoning: `thinking step ${i}. ` })),
      chunk({ content: JSON.stringify(answer) }),
      chunk({}, "stop"),
    ],
  };
}

describe("the MCP ask tool while the model streams", () => {
  it("a first model turn that streams for longer than the client's request timeout: progress resets it, the call succeeds", async () => {
    // About 7 s of streamed reasoning against a 4 s timeout that only progress can reset.
    const { client } = await serveWith(() => slowTurn(14, 500));
    const progress: Progress[] = [];
    const result = (await client.callTool(
      { name: "ask", arguments: { question: "What is the wifi password?" } },
      undefined,
      {
        timeout: 4_000,
        resetTimeoutOnProgress: true,
        onprogress: (p) => progress.push(p),
      },
    )) as CallToolResult;
    expect(result.isError).toBeFalsy();
    expect((result.structuredContent as { unanswerable: boolean }).unanswerable).toBe(true);
    const streaming = progress.filter((p) => /model reasoning \(\d+ characters so far\)/.test(p.message ?? ""));
    expect(streaming.length).toBeGreaterThanOrEqual(2);
    // Progress only ever increases (MCP requires it).
    for (let i = 1; i < progress.length; i++) {
      expect(progress[i]?.progress).toBeGreaterThan(progress[i - 1]?.progress ?? 0);
    }
  });

  it("a client that cancels ask while the model thinks: the server logs no AbortError stack and keeps serving", async () => {
    const { client, stderr } = await serveWith(() => ({ delayMs: 20_000, content: "late" }));
    const controller = new AbortController();
    const call = client
      .callTool({ name: "ask", arguments: { question: "Who directed Maximum Overdrive?" } }, undefined, {
        signal: controller.signal,
      })
      .catch((e: unknown) => e);
    const started = Date.now();
    while ((llm?.requests.length ?? 0) === 0 && Date.now() - started < 30_000) {
      await new Promise((r) => setTimeout(r, 50));
    }
    controller.abort();
    expect(await call).toBeInstanceOf(Error);
    // The server is still there, and said nothing alarming about the cancel.
    const tools = await client.listTools();
    expect(tools.tools.map((t) => t.name)).toContain("ask");
    await new Promise((r) => setTimeout(r, 300));
    expect(stderr()).not.toMatch(/AbortError|\n\s+at /);
  });
});
