/**
 * The framework examples in examples/frameworks/ run as a user runs them (`node examples/frameworks/<x>.mjs
 * stdio|http "question"`), against a real store holding the Milvus FAQ; the OpenAI Agents SDK example talks
 * to the scripted OpenAI-compatible server in place of gpt-oss.
 */
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadConfig } from "../../src/config/index.js";
import { silentLogger } from "../../src/log.js";
import { createContext } from "../../src/tools/context.js";
import { runIngest } from "../../src/tools/ingest.js";
import { type RecordedRequest, type ScriptedTurn, startScriptedServer } from "../agent/scripted-server.js";
import { userEnv } from "../helpers/cli.js";
import { FAQ_FIXTURE, REPO_ROOT } from "../helpers/workspace.js";

const EXAMPLES = path.join(REPO_ROOT, "examples", "frameworks");
const QUESTION = "How is data stored in milvus?";

let dir: string;
let store: string;

function runExample(file: string, mode: "stdio" | "http", env: Record<string, string> = {}) {
  return new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve, reject) => {
    const child = spawn(process.execPath, [path.join(EXAMPLES, file), mode, QUESTION], {
      cwd: dir,
      env: userEnv({ MRAG_STORE: store, MRAG_LOG_LEVEL: "warn", ...env }),
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => {
      stdout += d.toString();
    });
    child.stderr.on("data", (d: Buffer) => {
      stderr += d.toString();
    });
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, stdout, stderr }));
  });
}

beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), "mrag-examples-"));
  store = path.join(dir, "store");
  const { config } = loadConfig({ cwd: dir, env: {}, flags: { store } });
  const context = createContext(config, { cwd: dir, logger: silentLogger });
  try {
    const summary = await runIngest(context, { inputs: [FAQ_FIXTURE] });
    expect(summary.added.length).toBeGreaterThanOrEqual(4);
  } finally {
    await context.close();
  }
}, 120_000);

afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true, maxRetries: 5 });
});

describe("examples/frameworks", () => {
  for (const mode of ["stdio", "http"] as const) {
    it(`OpenAI Agents SDK (${mode === "stdio" ? "MCPServerStdio" : "MCPServerStreamableHttp"}): the model's search runs on mrag and its answer is printed`, async () => {
      const turns = (request: RecordedRequest, i: number): ScriptedTurn => {
        if (i === 0) return { toolCalls: [{ name: "search", arguments: { query: QUESTION, k: 3 } }] };
        const tool = (request.messages ?? []).find((m) => m.role === "tool");
        const seen = String(tool?.content ?? "");
        return { content: seen.includes("Where does Milvus store data?") ? "Object storage (product_faq.md)." : "?" };
      };
      const llm = await startScriptedServer({ profile: "vllm", turns });
      try {
        const r = await runExample("openai-agents.mjs", mode, {
          MRAG_LLM_BASE_URL: llm.url,
          MRAG_LLM_MODEL: "gpt-oss-20b",
        });
        expect(r.code, r.stderr).toBe(0);
        // (Over HTTP the SDK sends one request without a session id, which the server logs as a warning.)
        expect(r.stderr).not.toMatch(/Error|\n\s+at /);
        expect(r.stdout.trim()).toBe("Object storage (product_faq.md).");
        expect(llm.requests).toHaveLength(2);
        expect(llm.requests[0]?.tools?.map((t) => t.function.name)).toEqual(
          expect.arrayContaining(["search", "read", "list_sources", "status"]),
        );
        expect(llm.problems).toEqual([]);
      } finally {
        await llm.close();
      }
    }, 120_000);

    it(`LangChain.js @langchain/mcp-adapters (${mode}): lists mrag's tools and a search finds the FAQ answer`, async () => {
      const r = await runExample("langchain.mjs", mode);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toMatch(/^tools: .*\bsearch\b.*\bread\b/m);
      expect(r.stdout).toMatch(/product_faq\.md/);
      expect(r.stdout).toMatch(/Where does Milvus store data\?/);
    }, 120_000);

    it(`Vercel AI SDK @ai-sdk/mcp (${mode}): lists mrag's tools and a search finds the FAQ answer`, async () => {
      const r = await runExample("vercel-ai.mjs", mode);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toMatch(/^tools: .*\bsearch\b.*\bread\b/m);
      expect(r.stdout).toMatch(/product_faq\.md/);
      expect(r.stdout).toMatch(/Where does Milvus store data\?/);
    }, 120_000);
  }
});
