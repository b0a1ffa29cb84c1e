import { cpSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";
import {
  type RecordedRequest,
  type ScriptedServer,
  type ScriptedTurn,
  startScriptedServer,
} from "../agent/scripted-server.js";
import { passagesIn, type SeenPassage, SLICE, TWO_HOP_QUESTION, TWO_HOP_SOURCES } from "../helpers/agent.js";
import { runMrag } from "../helpers/cli.js";

/**
 * `mrag ask` end to end: the built CLI, spawned, over a real store of the hotpotqa slice, against a scripted
 * gpt-oss server (vLLM profile) that searches twice and answers through `final_answer`, citing what it found.
 */

const QUESTION = TWO_HOP_QUESTION;
const SOURCES = TWO_HOP_SOURCES;

const toolMessages = (request: RecordedRequest) => (request.messages ?? []).filter((m) => m.role === "tool").length;

/**
 * A stateless script (by how many tool results the request carries): search for the film, search for its
 * director, then answer citing one passage of each supporting page, quoting its first line.
 */
function twoHopModel(request: RecordedRequest): ScriptedTurn {
  const done = toolMessages(request);
  if (done === 0) {
    return {
      reasoning: "First find the film shot in Leland in 1986.",
      toolCalls: [{ name: "search", arguments: { query: "film shot in Leland North Carolina 1986" } }],
    };
  }
  if (done === 1) {
    return {
      reasoning: "Maximum Overdrive was shot there. Who directed it?",
      toolCalls: [{ name: "search", arguments: { query: "Maximum Overdrive director" } }],
    };
  }
  const passages = passagesIn(request);
  const citations = [/Leland_North_Carolina/, /Maximum_Overdrive/].map((re) => {
    const p = passages.find((x) => re.test(x.source));
    if (!p) throw new Error(`no passage from ${re} in the request`);
    return { id: String(p.n), source: p.source, quote: p.text.slice(0, 80) };
  });
  return {
    reasoning: "I have what I need.",
    toolCalls: [
      {
        name: "final_answer",
        arguments: { answer: "Stephen King", citations, confidence: "high", unanswerable: false },
      },
    ],
  };
}

/** What `mrag ask --json` prints. */
const AskJsonSchema = z
  .object({
    answer: z.string().min(1),
    citations: z.array(
      z.object({
        id: z.string().min(1),
        source: z.string().min(1),
        quote: z.string().min(1),
        // The passage the citation points to (issue 16 item 13).
        n: z.number().int().positive(),
        lineStart: z.number().int(),
        lineEnd: z.number().int(),
        heading: z.string().optional(),
        text: z.string().min(1),
      }),
    ),
    confidence: z.enum(["low", "medium", "high"]),
    unanswerable: z.boolean(),
    removedCitations: z.array(z.object({ id: z.string(), reason: z.string() })),
    stopReason: z.enum(["answered", "max_steps", "max_tool_calls", "length"]),
    steps: z.number().int().positive(),
    toolCalls: z.number().int().nonnegative(),
    toolRuns: z.array(
      z.object({
        step: z.number().int().positive(),
        name: z.string(),
        server: z.string().optional(),
        original: z.string().optional(),
        arguments: z.union([z.record(z.string(), z.unknown()), z.string()]),
        status: z.enum(["ran", "refused", "invalid"]),
        isError: z.boolean(),
        passages: z.array(z.number().int()),
        ms: z.number().nonnegative(),
        reason: z.string().optional(),
      }),
    ),
    requests: z.array(
      z.object({
        step: z.number().int().positive(),
        forced: z.literal(true).optional(),
        ms: z.number().nonnegative(),
        attempts: z.number().int().positive(),
        finishReason: z.string(),
        usage: z.object({ promptTokens: z.number().int(), completionTokens: z.number().int() }).optional(),
      }),
    ),
    notes: z.array(z.string()),
    ms: z.number().nonnegative(),
  })
  .strict();

describe("mrag ask (the built CLI, spawned, real store, scripted model)", () => {
  let dir: string;
  let server: ScriptedServer | undefined;

  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), "mrag-ask-"));
    cpSync(SLICE, path.join(dir, "corpus"), {
      recursive: true,
      filter: (src) => !src.endsWith("ATTRIBUTION.md") && !src.endsWith("questions.json"),
    });
    const r = await runMrag(["ingest", "corpus"], { cwd: dir, env: { MRAG_STORE: path.join(dir, "store") } });
    expect(r.code, r.stderr).toBe(0);
  });

  afterEach(async () => {
    await server?.close();
    server = undefined;
  });

  afterAll(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  const llmEnv = (url: string, extra: Record<string, string> = {}) => ({
    MRAG_STORE: path.join(dir, "store"),
    MRAG_LLM_PRESET: "vllm",
    MRAG_LLM_BASE_URL: url,
    MRAG_LLM_MODEL: "gpt-oss-20b",
    ...extra,
  });

  async function ask(...args: string[]) {
    server = await startScriptedServer({ profile: "vllm", turns: (request) => twoHopModel(request) });
    const result = await runMrag(["ask", ...args], { cwd: dir, env: llmEnv(server.url) });
    return { ...result, server };
  }

  it("prints the answer and its sources with quotes; progress goes to stderr only", async () => {
    const r = await ask(QUESTION);
    expect(r.code, r.stderr).toBe(0);
    expect(r.server.problems).toEqual([]);
    expect(r.server.requests).toHaveLength(3);
    expect(r.server.requests[0]?.model).toBe("gpt-oss-20b");

    const lines = r.stdout.split("\n");
    expect(lines[0]).toBe("Stephen King");
    const sourcesAt = lines.indexOf("Sources:");
    expect(sourcesAt).toBeGreaterThan(0);
    // One `  [n] source:lines — heading` line per citation, then its quote on the next line.
    const cited = lines.slice(sourcesAt + 1).filter((l) => /^ {2}\[\d+\] /.test(l));
    expect(cited.map((l) => /^ {2}\[\d+\] (\S+?)(?::\d+-\d+)?(?: |$)/.exec(l)?.[1]).sort()).toEqual(SOURCES);
    const passages = passagesIn(r.server.requests[2] as RecordedRequest);
    for (const source of SOURCES) {
      const p = passages.find((x) => x.source === source) as SeenPassage;
      const quote = p.text.slice(0, 80).replace(/\s+/g, " ").trim();
      expect(r.stdout).toContain(`"${quote}"`);
    }
    expect(r.stdout).toMatch(/confidence high · 3 step\(s\), 2 tool call\(s\)/);

    // Progress: one `→ search {...}` line per call and a result line, on stderr; stdout has none of it.
    const progress = r.stderr.split("\n").filter((l) => l.startsWith("→ "));
    expect(progress).toEqual([
      '→ search {"query":"film shot in Leland North Carolina 1986"}',
      '→ search {"query":"Maximum Overdrive director"}',
    ]);
    expect(r.stderr).toMatch(/^ {2}passages \d+(, \d+)* \(\d+ ms\)$/m);
    expect(r.stdout).not.toContain("→");
    expect(r.stdout).not.toMatch(/passages \d/);
  });

  it("--json prints the checked answer: citations with chunk ids and sources, confidence, stop reason, steps", async () => {
    const r = await ask(QUESTION, "--json");
    expect(r.code, r.stderr).toBe(0);
    // No progress lines with --json.
    expect(r.stderr).not.toContain("→");
    const out = AskJsonSchema.parse(JSON.parse(r.stdout));
    expect(out).toMatchObject({
      answer: "Stephen King",
      confidence: "high",
      unanswerable: false,
      stopReason: "answered",
      steps: 3,
      toolCalls: 2,
      removedCitations: [],
    });
    expect(out.citations.map((c) => c.source).sort()).toEqual(SOURCES);
    // The model cited passage numbers; the output carries the chunk ids of those passages.
    const passages = passagesIn(r.server.requests[2] as RecordedRequest);
    for (const c of out.citations) {
      expect(c.id).not.toMatch(/^\d+$/);
      const p = passages.find((x) => x.id === c.id);
      expect(p?.source).toBe(c.source);
    }
  });

  it("--trace writes JSONL: start (model, baseUrl, preset), model and tool lines, then the answer", async () => {
    const file = path.join(dir, "t.jsonl");
    const r = await ask(QUESTION, "--trace", file, "--quiet");
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).not.toContain("→");
    const text = readFileSync(file, "utf8");
    expect(text.endsWith("\n")).toBe(true);
    const events = text
      .trimEnd()
      .split("\n")
      .map((line) => JSON.parse(line) as Record<string, unknown> & { type: string });
    expect(events.map((e) => e.type)).toEqual(["start", "model", "tool", "model", "tool", "model", "answer"]);

    expect(events[0]).toMatchObject({
      type: "start",
      question: QUESTION,
      model: "gpt-oss-20b",
      baseUrl: r.server.url,
      preset: "vllm",
    });
    const TimedSchema = z.object({ t: z.number().nonnegative() });
    const ModelLine = TimedSchema.extend({
      type: z.literal("model"),
      step: z.number().int().positive(),
      ms: z.number().nonnegative(),
      finishReason: z.literal("tool_calls"),
      usage: z.object({ promptTokens: z.number().int().positive(), completionTokens: z.number().int().positive() }),
    });
    const ToolLine = TimedSchema.extend({
      type: z.literal("tool"),
      step: z.number().int().positive(),
      name: z.literal("search"),
      arguments: z.object({ query: z.string().min(1) }),
      isError: z.literal(false),
      passages: z.array(z.number().int().positive()).min(1),
      ms: z.number().nonnegative(),
    });
    const models = events.filter((e) => e.type === "model").map((e) => ModelLine.parse(e));
    expect(models.map((m) => m.step)).toEqual([1, 2, 3]);
    const tools = events.filter((e) => e.type === "tool").map((e) => ToolLine.parse(e));
    expect(tools.map((t) => t.arguments.query)).toEqual([
      "film shot in Leland North Carolina 1986",
      "Maximum Overdrive director",
    ]);
    const answer = z
      .object({
        type: z.literal("answer"),
        stopReason: z.literal("answered"),
        answer: z.object({ answer: z.literal("Stephen King"), citations: z.array(z.unknown()).length(2) }),
        ms: z.number(),
        modelMs: z.number(),
        toolMs: z.number(),
      })
      .parse(events.at(-1));
    expect(answer.modelMs + answer.toolMs).toBeLessThanOrEqual(answer.ms);
  });

  it("an unreachable LLM server exits 1 with one stderr line naming the URL and the preset", async () => {
    const r = await runMrag(["ask", QUESTION], {
      cwd: dir,
      env: llmEnv("http://127.0.0.1:9/v1", { MRAG_LLM_MAX_RETRIES: "0" }),
    });
    expect(r.code).toBe(1);
    expect(r.stdout).toBe("");
    const lines = r.stderr.trimEnd().split("\n");
    expect(lines, r.stderr).toHaveLength(1);
    expect(lines[0]).toMatch(/http:\/\/127\.0\.0\.1:9\/v1/);
    expect(lines[0]).toMatch(/vllm/);
  });

  it("an empty question exits 2 without contacting the model", async () => {
    server = await startScriptedServer({ profile: "vllm", turns: [] });
    for (const question of ["", "   "]) {
      const r = await runMrag(["ask", question], { cwd: dir, env: llmEnv(server.url) });
      expect(r.code, JSON.stringify(question)).toBe(2);
      expect(r.stdout).toBe("");
      expect(r.stderr).toMatch(/question is empty/);
    }
    expect(server.httpRequests).toEqual([]);
  });
});
