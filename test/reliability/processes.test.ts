import { randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { type ScriptedServer, startScriptedServer } from "../agent/scripted-server.js";
import { processesWith } from "../helpers/children.js";
import { MRAG_BIN } from "../helpers/cli.js";
import { startServe } from "./access-helpers.js";
import { type Running, sleep, startMrag } from "./crash-helpers.js";

/**
 * No child outlives mrag (issue 18, item 2). `mrag ask` is run with extra MCP servers (`agent.mcpServers`):
 * one that never answers (a node process that only sleeps), one wrapped in `sh -c` (its grandchild never sees
 * a signal sent to `sh` alone), and a real one (the built CLI serving stdio). Each carries a random marker in
 * its environment, inherited by grandchildren, and the test counts the live processes holding it in /proc
 * after each path: success, error, the connect timeout, SIGINT and SIGTERM while connecting or answering.
 */

const QUESTION = "What is Milvus?";

function marker(label: string): string {
  return `MRAG_TEST_CHILD=${label}-${randomBytes(8).toString("hex")}`;
}

const envOf = (mark: string) => {
  const [key, value] = mark.split("=") as [string, string];
  return { [key]: value };
};

/** The live processes holding any of `marks`, as "pid argv" (a failure names what leaked). */
function describeAll(marks: readonly string[]): string[] {
  return marks.flatMap((mark) =>
    processesWith(mark).map((pid) => {
      try {
        return `${pid} ${readFileSync(`/proc/${pid}/cmdline`, "utf8").replaceAll("\0", " ").trim()}`;
      } catch {
        return `${pid} (gone)`;
      }
    }),
  );
}

/** Polls /proc (bounded): true once `check` holds. */
async function eventually(check: () => boolean, ms: number, running?: Running): Promise<boolean> {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    if (check()) return true;
    if (running?.exited) return check();
    await sleep(50);
  }
  return check();
}

describe("no leaked processes: every extra MCP server ends with mrag", () => {
  let dir: string;
  let llm: ScriptedServer | undefined;
  /** Opened by the test: the scripted model answers only then (a question in flight). */
  let release: () => void = () => {};
  let requested: () => void = () => {};
  let requestSeen: Promise<void> = Promise.resolve();

  beforeAll(() => {
    dir = mkdtempSync(path.join(tmpdir(), "mrag-procs-"));
  });

  afterAll(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  afterEach(async () => {
    release();
    await llm?.close();
    llm = undefined;
  });

  async function gatedModel(): Promise<string> {
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    requestSeen = new Promise<void>((resolve) => {
      requested = resolve;
    });
    llm = await startScriptedServer({
      profile: "vllm",
      turns: async () => {
        requested();
        await gate;
        return { content: "Milvus is a vector database." };
      },
    });
    return llm.url;
  }

  /** A workspace whose config lists the mute, the wrapped and (optionally) a real extra server. */
  function workspace(marks: { silent: string; real?: string }): string {
    const ws = mkdtempSync(path.join(dir, "ws-"));
    const sleeper = `${JSON.stringify(process.execPath)} -e "setInterval(() => {}, 1000)"`;
    const mcpServers: Record<string, unknown> = {
      mute: { command: process.execPath, args: ["-e", "setInterval(() => {}, 1000)"], env: envOf(marks.silent) },
      // `; :` keeps sh from exec'ing the node child: a real grandchild.
      wrapped: { command: "sh", args: ["-c", `${sleeper}; :`], env: envOf(marks.silent) },
    };
    if (marks.real) {
      mcpServers.kb = {
        command: process.execPath,
        args: [MRAG_BIN, "serve", "--read-only"],
        env: { ...envOf(marks.real), MRAG_STORE: path.join(ws, "other-store") },
      };
    }
    writeFileSync(path.join(ws, "mrag.config.json"), JSON.stringify({ agent: { mcpServers } }));
    return ws;
  }

  function ask(ws: string, llmUrl: string): Running {
    return startMrag(["ask", QUESTION, "--quiet"], {
      cwd: ws,
      env: {
        MRAG_STORE: path.join(ws, "store"),
        MRAG_LLM_PRESET: "vllm",
        MRAG_LLM_BASE_URL: llmUrl,
        MRAG_LLM_MODEL: "gpt-oss-20b",
        MRAG_LLM_MAX_RETRIES: "0",
      },
    });
  }

  it("success: the server it gave up on is gone at once, the rest when mrag exits", async () => {
    const silent = marker("silent");
    const real = marker("real");
    const running = ask(workspace({ silent, real }), await gatedModel());
    // mute (node), wrapped (sh + its node child) and the real server all start.
    expect(await eventually(() => processesWith(silent).length >= 3, 20_000, running)).toBe(true);
    expect(await eventually(() => processesWith(real).length >= 1, 20_000, running)).toBe(true);
    // The model is asked only after connecting gave up on both silent servers (10 s): they end while mrag runs.
    await requestSeen;
    expect(await eventually(() => processesWith(silent).length === 0, 10_000)).toBe(true);
    expect(running.exited).toBe(false);
    expect(processesWith(real).length).toBeGreaterThanOrEqual(1);
    release();
    const result = await running.result;
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toContain("Milvus is a vector database.");
    expect(result.stderr).toMatch(/"mute" skipped/);
    expect(result.stderr).toMatch(/"wrapped" skipped/);
    await eventually(() => processesWith(real).length === 0, 5_000);
    expect(describeAll([silent, real])).toEqual([]);
  }, 90_000);

  it("error: an unreachable model ends the run with exit 1 and no child left", async () => {
    const silent = marker("silent");
    const real = marker("real");
    const running = ask(workspace({ silent, real }), "http://127.0.0.1:9/v1");
    expect(await eventually(() => processesWith(silent).length >= 3, 20_000, running)).toBe(true);
    const result = await running.result;
    expect(result.code, result.stderr).toBe(1);
    expect(result.stderr).toMatch(/127\.0\.0\.1:9/);
    await eventually(() => processesWith(silent).length + processesWith(real).length === 0, 5_000);
    expect(describeAll([silent, real])).toEqual([]);
  }, 90_000);

  it("mrag serve --http: SIGTERM while its ask tool waits on the model ends the agent's servers too", async () => {
    const silent = marker("silent");
    const real = marker("real");
    const ws = workspace({ silent, real });
    const server = await startServe([], {
      cwd: ws,
      env: {
        MRAG_STORE: path.join(ws, "store"),
        MRAG_LLM_PRESET: "vllm",
        MRAG_LLM_BASE_URL: await gatedModel(),
        MRAG_LLM_MODEL: "gpt-oss-20b",
      },
    });
    const client = new Client({ name: "procs", version: "0" });
    await client.connect(new StreamableHTTPClientTransport(new URL(server.url)));
    // The agent (and its extra servers) starts on the first ask; the model is asked once connecting is done.
    const asked = client.callTool({ name: "ask", arguments: { question: QUESTION } }).catch((e: unknown) => e);
    await requestSeen;
    expect(processesWith(real).length).toBeGreaterThanOrEqual(1);
    const signalled = Date.now();
    const code = await server.stop();
    console.log(`serve exited ${Date.now() - signalled} ms after SIGTERM`);
    // The pending call fails once the client gives up on the dead server; it need not be awaited.
    void asked;
    await client.close().catch(() => {});
    expect(code, server.stderr()).toBe(0);
    await eventually(() => processesWith(silent).length + processesWith(real).length === 0, 5_000);
    expect(describeAll([silent, real])).toEqual([]);
  }, 90_000);

  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    it(`${signal} while the servers are still connecting ends them all`, async () => {
      const silent = marker("silent");
      const real = marker("real");
      const running = ask(workspace({ silent, real }), await gatedModel());
      expect(await eventually(() => processesWith(silent).length >= 3, 20_000, running)).toBe(true);
      expect(await eventually(() => processesWith(real).length >= 1, 20_000, running)).toBe(true);
      expect(running.exited).toBe(false);
      process.kill(running.pid, signal);
      const result = await running.result;
      // Nobody else handles the signal here: mrag dies of it, as by default, after ending its children.
      expect(result.signal ?? result.code, result.stderr).toBe(signal);
      await eventually(() => processesWith(silent).length + processesWith(real).length === 0, 5_000);
      expect(describeAll([silent, real])).toEqual([]);
    }, 90_000);

    it(`${signal} while a question is in flight ends the real server too`, async () => {
      const real = marker("real");
      const silent = marker("silent");
      const running = ask(workspace({ silent, real }), await gatedModel());
      await requestSeen;
      expect(processesWith(real).length).toBeGreaterThanOrEqual(1);
      process.kill(running.pid, signal);
      const result = await running.result;
      if (signal === "SIGINT") {
        // `ask` handles SIGINT: the question is cancelled and the agent closed, a one-line message.
        expect(result.code, result.stderr).not.toBe(0);
        expect(result.stderr).not.toMatch(/\n\s+at /);
      } else {
        expect(result.signal ?? result.code, result.stderr).toBe("SIGTERM");
      }
      await eventually(() => processesWith(silent).length + processesWith(real).length === 0, 5_000);
      expect(describeAll([silent, real])).toEqual([]);
    }, 90_000);
  }
});
