import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runIngest } from "../../src/tools/ingest.js";
import { startScriptedServer } from "../agent/scripted-server.js";
import { runMrag } from "../helpers/cli.js";
import { makeWorkspace, type Workspace } from "../helpers/workspace.js";

describe("mrag doctor", () => {
  let ws: Workspace;
  beforeAll(async () => {
    ws = makeWorkspace();
    await runIngest(ws.context, { inputs: [ws.docs] });
  }, 60_000);
  afterAll(async () => ws?.cleanup());

  it("reports Node, the store's counts and model, the embedder's dimension and roots; exit 0", async () => {
    const r = await runMrag(["doctor"], { cwd: ws.dir, env: { MRAG_STORE: ws.storeDir } });
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^ok {3}node: v\d+/m);
    expect(r.stdout).toMatch(/^ok {3}store: .*: 4 sources, \d+ chunks, model builtin:mrag-static-en\S*$/m);
    expect(r.stdout).toMatch(/^ok {3}embedder: builtin:mrag-static-en\S*, \d+-d$/m);
    expect(r.stdout).toMatch(/^ok {3}llm: not configured/m);
  }, 60_000);

  it("an LLM that returns the probe tool call passes; one that only talks fails with one line", async () => {
    const good = await startScriptedServer({
      profile: "vllm",
      turns: () => ({ toolCalls: [{ name: "mrag_probe", arguments: { ok: true } }] }),
    });
    const chatty = await startScriptedServer({ profile: "ollama", turns: () => ({ content: "Sure!" }) });
    try {
      const env = (url: string) => ({ MRAG_STORE: ws.storeDir, MRAG_LLM_BASE_URL: url, MRAG_LLM_MODEL: "gpt-oss-20b" });
      const ok = await runMrag(["doctor"], { cwd: ws.dir, env: env(good.url) });
      expect(ok.code, ok.stdout + ok.stderr).toBe(0);
      expect(ok.stdout).toMatch(/^ok {3}llm: .*reachable, returns tool calls$/m);
      const probe = good.requests.at(-1);
      expect(probe?.tools?.[0]?.function.name).toBe("mrag_probe");

      const bad = await runMrag(["doctor"], { cwd: ws.dir, env: env(chatty.url) });
      expect(bad.code).toBe(1);
      expect(bad.stdout).toMatch(/^FAIL llm: .* answered without a tool call; /m);
      expect(bad.stderr).toBe("mrag: doctor found 1 problem(s)\n");
    } finally {
      await good.close();
      await chatty.close();
    }
    const down = await runMrag(["doctor"], {
      cwd: ws.dir,
      env: { MRAG_STORE: ws.storeDir, MRAG_LLM_BASE_URL: "http://127.0.0.1:9/v1", MRAG_ALLOW_ROOTS: "/nonexistent-x" },
    });
    expect(down.code).toBe(1);
    expect(down.stdout).toMatch(/^FAIL llm: .* is not reachable/m);
    expect(down.stdout).toMatch(/^FAIL allowed roots: not a folder: \/nonexistent-x/m);
  }, 60_000);
});
