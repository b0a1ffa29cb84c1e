/**
 * Issue 16 items 10, 11 and 13 through the built CLI (spawned) over a real store, against a scripted gpt-oss
 * server: Ctrl-C in `mrag ask`, streamed reasoning and answers, and what `--json` carries.
 */
import { spawn } from "node:child_process";
import { cpSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import {
  type RecordedRequest,
  type ScriptedServer,
  type ScriptedTurn,
  startScriptedServer,
} from "../agent/scripted-server.js";
import { passagesIn, SLICE, TWO_HOP_QUESTION } from "../helpers/agent.js";
import { MRAG_BIN, runMrag, userEnv } from "../helpers/cli.js";

let dir: string;
let server: ScriptedServer | undefined;

beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), "mrag-ask16-"));
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
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const llmEnv = (url: string) => ({
  MRAG_STORE: path.join(dir, "store"),
  MRAG_LLM_PRESET: "vllm",
  MRAG_LLM_BASE_URL: url,
  MRAG_LLM_MODEL: "gpt-oss-20b",
});

const ANSWER = "Stephen King directed Maximum Overdrive, the 1986 film shot around Leland.";

function answerTurn(request: RecordedRequest, extra: Partial<ScriptedTurn> = {}): ScriptedTurn {
  const p = passagesIn(request).find((x) => /Maximum_Overdrive/.test(x.source));
  if (!p) throw new Error("Maximum Overdrive not retrieved");
  return {
    reasoning: "Passage on Maximum Overdrive names the director.",
    toolCalls: [
      {
        name: "final_answer",
        arguments: {
          answer: ANSWER,
          citations: [{ id: String(p.n), source: p.source, quote: p.text.slice(0, 60) }],
          confidence: "high",
          unanswerable: false,
        },
      },
    ],
    ...extra,
  };
}

/** Spawns the built CLI and records when each stdout piece arrived. */
function spawnMrag(args: string[], env: Record<string, string>, input?: string) {
  const child = spawn(process.execPath, [MRAG_BIN, ...args], {
    cwd: dir,
    env: userEnv(env),
    stdio: [input === undefined ? "ignore" : "pipe", "pipe", "pipe"],
  });
  if (input !== undefined) child.stdin?.end(input);
  const pieces: string[] = [];
  let stderr = "";
  child.stdout?.on("data", (d: Buffer) => pieces.push(d.toString()));
  child.stderr?.on("data", (d: Buffer) => {
    stderr += d.toString();
  });
  const exit = new Promise<number | null>((resolve) => child.on("close", (code) => resolve(code)));
  return { child, pieces, stderr: () => stderr, exit };
}

describe("mrag ask: --json, Ctrl-C, streaming", () => {
  it("--json after the step limit: citations carry their passage, tool runs their arguments and durations, requests the forced one with usage", async () => {
    server = await startScriptedServer({
      profile: "vllm",
      turns: (request, i) =>
        i === 0
          ? { toolCalls: [{ name: "search", arguments: { query: "Maximum Overdrive director" } }] }
          : { content: JSON.stringify(answerTurn(request).toolCalls?.[0]?.arguments) },
    });
    const r = await runMrag(["ask", TWO_HOP_QUESTION, "--json", "--max-steps", "1"], {
      cwd: dir,
      env: llmEnv(server.url),
    });
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out.stopReason).toBe("max_steps");
    expect(out.steps).toBe(2);
    expect(out.requests).toEqual([
      expect.objectContaining({ step: 1, finishReason: "tool_calls", usage: expect.any(Object) }),
      expect.objectContaining({ step: 2, forced: true, finishReason: "stop", usage: expect.any(Object) }),
    ]);
    expect(out.toolRuns).toEqual([
      expect.objectContaining({
        step: 1,
        name: "search",
        server: "mrag",
        arguments: { query: "Maximum Overdrive director" },
        status: "ran",
        ms: expect.any(Number),
      }),
    ]);
    const [citation] = out.citations;
    expect(citation).toMatchObject({ source: "corpus/Maximum_Overdrive.md", n: expect.any(Number) });
    expect(citation.lineEnd).toBeGreaterThanOrEqual(citation.lineStart);
    expect(citation.text).toContain("Maximum Overdrive");
  });

  it("Ctrl-C while the server is still thinking: 'mrag: cancelled', exit 130, no 'unexpected error'", async () => {
    server = await startScriptedServer({ profile: "vllm", turns: [{ delayMs: 20_000, content: "late" }] });
    const run = spawnMrag(["ask", TWO_HOP_QUESTION], llmEnv(server.url));
    const started = Date.now();
    while (server.requests.length === 0 && Date.now() - started < 30_000) await new Promise((r) => setTimeout(r, 50));
    expect(server.requests).toHaveLength(1);
    run.child.kill("SIGINT");
    const code = await run.exit;
    expect(run.stderr()).toMatch(/^mrag: cancelled$/m);
    expect(run.stderr()).not.toMatch(/unexpected error|AbortError|aborted/);
    expect(code).toBe(130);
  });

  it("--show-reasoning streams the reasoning to stderr; the answer streams to stdout piece by piece", async () => {
    server = await startScriptedServer({
      profile: "vllm",
      turns: (request, i) =>
        i === 0
          ? {
              reasoning: "The film shot in Leland is the key; search for it.",
              toolCalls: [{ name: "search", arguments: { query: "Maximum Overdrive director" } }],
            }
          : answerTurn(request, { chunkDelayMs: 150 }),
    });
    const run = spawnMrag(["ask", TWO_HOP_QUESTION, "--show-reasoning"], llmEnv(server.url));
    expect(await run.exit, run.stderr()).toBe(0);
    expect(run.stderr()).toContain("The film shot in Leland is the key; search for it.");
    const stdout = run.pieces.join("");
    expect(stdout.startsWith(ANSWER)).toBe(true);
    // The answer arrived in several pieces, each before the sources were printed.
    const before = run.pieces.slice(
      0,
      run.pieces.findIndex((p) => p.includes("Sources:")),
    );
    expect(before.length).toBeGreaterThanOrEqual(2);
    expect(run.stderr()).not.toContain(ANSWER);
  });
});

describe("mrag chat", () => {
  it("streams the final answer to stdout as the model writes it, then its sources", async () => {
    server = await startScriptedServer({
      profile: "vllm",
      turns: (request, i) =>
        i === 0
          ? { toolCalls: [{ name: "search", arguments: { query: "Maximum Overdrive director" } }] }
          : answerTurn(request, { chunkDelayMs: 150 }),
    });
    const run = spawnMrag(["chat"], llmEnv(server.url), `${TWO_HOP_QUESTION}\n`);
    expect(await run.exit, run.stderr()).toBe(0);
    const sourcesAt = run.pieces.findIndex((p) => p.includes("Sources:"));
    const streamed = run.pieces.slice(0, sourcesAt).join("") + (run.pieces[sourcesAt] ?? "").split("Sources:")[0];
    expect(streamed.trim()).toBe(ANSWER);
    expect(run.pieces.slice(0, sourcesAt).length).toBeGreaterThanOrEqual(2);
    // Printed once: the answer is not repeated after it streamed.
    expect(run.pieces.join("").split(ANSWER)).toHaveLength(2);
  });
});
