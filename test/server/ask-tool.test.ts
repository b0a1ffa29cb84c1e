import { cpSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import type { CallToolResult, Progress, Tool } from "@modelcontextprotocol/sdk/types.js";
import { Ajv } from "ajv";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  type RecordedRequest,
  type ScriptedServer,
  type ScriptedTurn,
  startScriptedServer,
} from "../agent/scripted-server.js";
import { passagesIn, SLICE, TWO_HOP_QUESTION, TWO_HOP_SOURCES } from "../helpers/agent.js";
import { MRAG_BIN, runMrag, userEnv } from "../helpers/cli.js";

/**
 * The MCP `ask` tool of `mrag serve` (the built CLI, spawned over stdio), with the LLM configured through the
 * environment and answered by a scripted gpt-oss server (vLLM profile), over a real store of the hotpotqa slice.
 */

const QUESTION = TWO_HOP_QUESTION;
const SOURCES = TWO_HOP_SOURCES;

/** Search for the film, search for its director, then answer citing both pages (by tool results seen). */
function twoHopModel(request: RecordedRequest): ScriptedTurn {
  const done = (request.messages ?? []).filter((m) => m.role === "tool").length;
  if (done === 0) {
    return { toolCalls: [{ name: "search", arguments: { query: "film shot in Leland North Carolina 1986" } }] };
  }
  if (done === 1) return { toolCalls: [{ name: "search", arguments: { query: "Maximum Overdrive director" } }] };
  const passages = passagesIn(request);
  const citations = [/Leland_North_Carolina/, /Maximum_Overdrive/].map((re) => {
    const p = passages.find((x) => re.test(x.source));
    if (!p) throw new Error(`no passage from ${re} in the request`);
    return { id: String(p.n), source: p.source, quote: p.text.slice(0, 80) };
  });
  return {
    toolCalls: [
      {
        name: "final_answer",
        arguments: { answer: "Stephen King", citations, confidence: "high", unanswerable: false },
      },
    ],
  };
}

interface AskOutput {
  answer: string;
  citations: { id: string; source: string; quote: string }[];
  confidence: string;
  unanswerable: boolean;
  stopReason: string;
  steps: { step: number; toolCalls: { name: string; isError: boolean; passages: number[] }[] }[];
  removedCitations: unknown[];
  notes: string[];
  ms: number;
}

let dir: string;
let storeDir: string;
let llm: ScriptedServer;

beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), "mrag-ask-tool-"));
  storeDir = path.join(dir, "store");
  cpSync(SLICE, path.join(dir, "corpus"), {
    recursive: true,
    filter: (src) => !src.endsWith("ATTRIBUTION.md") && !src.endsWith("questions.json"),
  });
  const r = await runMrag(["ingest", "corpus"], { cwd: dir, env: { MRAG_STORE: storeDir } });
  expect(r.code, r.stderr).toBe(0);
  llm = await startScriptedServer({ profile: "vllm", turns: (request) => twoHopModel(request) });
});

afterAll(async () => {
  await llm?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const llmEnv = () => ({
  MRAG_LLM_PRESET: "vllm",
  MRAG_LLM_BASE_URL: llm.url,
  MRAG_LLM_MODEL: "gpt-oss-20b",
});

/** `mrag serve [args]` over stdio with MRAG_STORE, log level warn and `extra`; stderr is collected. */
async function serve(
  args: string[],
  extra: Record<string, string>,
): Promise<{ client: Client; stderr: () => string; errors: Error[] }> {
  const transport = new StdioClientTransport({
    command: process.execPath,
    args: [MRAG_BIN, "serve", ...args],
    cwd: dir,
    env: userEnv({ MRAG_STORE: storeDir, MRAG_LOG_LEVEL: "warn", ...extra }),
    stderr: "pipe",
  });
  let stderr = "";
  transport.stderr?.on("data", (d: Buffer) => {
    stderr += d.toString();
  });
  const client = new Client({ name: "ask-tool-test", version: "1.0.0" });
  const errors: Error[] = [];
  client.onerror = (error) => errors.push(error);
  await client.connect(transport);
  return { client, stderr: () => stderr, errors };
}

const textOf = (result: CallToolResult) => result.content.map((c) => (c.type === "text" ? c.text : "")).join("");

describe("the MCP ask tool (mrag serve over stdio, LLM configured by env)", () => {
  let client: Client;
  let stderr: () => string;
  let errors: Error[];
  let tools: Tool[];

  beforeAll(async () => {
    ({ client, stderr, errors } = await serve([], llmEnv()));
    tools = (await client.listTools()).tools;
  });
  afterAll(async () => {
    await client?.close();
  });

  it("lists ask as read-only and open-world, with input and output schemas", () => {
    expect(tools.map((t) => t.name)).toContain("ask");
    const ask = tools.find((t) => t.name === "ask") as Tool;
    expect(ask.annotations).toMatchObject({ readOnlyHint: true, openWorldHint: true, destructiveHint: false });
    expect(ask.inputSchema.required).toEqual(["question"]);
    expect(ask.outputSchema?.type).toBe("object");
  });

  it("answers a two-hop question: structuredContent valid against the listed outputSchema, with citations", async () => {
    const before = llm.requests.length;
    const result = (await client.callTool({ name: "ask", arguments: { question: QUESTION } })) as CallToolResult;
    expect(result.isError, textOf(result)).toBeFalsy();
    expect(llm.problems).toEqual([]);
    expect(llm.requests.length - before).toBe(3);

    const ask = tools.find((t) => t.name === "ask") as Tool;
    const validate = new Ajv({ allErrors: true, allowUnionTypes: true }).compile(ask.outputSchema ?? {});
    const valid = validate(result.structuredContent);
    expect(validate.errors ?? []).toEqual([]);
    expect(valid).toBe(true);

    const out = result.structuredContent as unknown as AskOutput;
    expect(out).toMatchObject({
      answer: "Stephen King",
      confidence: "high",
      unanswerable: false,
      stopReason: "answered",
      removedCitations: [],
    });
    expect(out.citations.map((c) => c.source).sort()).toEqual(SOURCES);
    for (const c of out.citations) expect(c.id).not.toMatch(/^\d+$/);
    expect(out.steps.map((s) => s.toolCalls.map((c) => c.name))).toEqual([["search"], ["search"], []]);
    // The text content carries the answer and the cited sources too.
    const text = textOf(result);
    expect(text).toMatch(/^Stephen King/);
    for (const source of SOURCES) expect(text).toContain(source);
  });

  it("sends progress notifications when the client asks for them", async () => {
    const updates: Progress[] = [];
    const result = (await client.callTool({ name: "ask", arguments: { question: QUESTION } }, undefined, {
      onprogress: (p) => updates.push(p),
    })) as CallToolResult;
    expect(result.isError, textOf(result)).toBeFalsy();
    // Three steps and two searches: step 1, search, step 2, search, step 3.
    expect(updates.map((u) => u.progress)).toEqual([1, 2, 3, 4, 5]);
    expect(updates.map((u) => u.message)).toEqual([
      "step 1",
      'search {"query":"film shot in Leland North Carolina 1986"}',
      "step 2",
      'search {"query":"Maximum Overdrive director"}',
      "step 3",
    ]);
  });

  it("reports a bad argument as a tool error naming question, without calling the model", async () => {
    const before = llm.requests.length;
    for (const args of [{ question: "" }, { question: "   " }, {}]) {
      const result = (await client.callTool({ name: "ask", arguments: args })) as CallToolResult;
      expect(result.isError, JSON.stringify(args)).toBe(true);
      expect(result.structuredContent).toBeUndefined();
      expect(textOf(result)).toMatch(/question/);
    }
    expect(llm.requests.length).toBe(before);
  });

  it("keeps stdout for the protocol: no parse errors, no errors logged", () => {
    expect(errors).toEqual([]);
    expect(stderr()).not.toMatch(/error/i);
  });
});

describe("when ask is offered", () => {
  it("is not listed without any LLM setting", async () => {
    const { client } = await serve([], {});
    try {
      const names = (await client.listTools()).tools.map((t) => t.name);
      expect(names).not.toContain("ask");
      expect(names).toContain("search");
    } finally {
      await client.close();
    }
  });

  it("is still listed with --read-only (it only reads), next to the reading tools", async () => {
    const { client } = await serve(["--read-only"], llmEnv());
    try {
      const names = (await client.listTools()).tools.map((t) => t.name);
      expect(names.sort()).toEqual(["ask", "list_sources", "read", "search", "status"]);
    } finally {
      await client.close();
    }
  });
});
