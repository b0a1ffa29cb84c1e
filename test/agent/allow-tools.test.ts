/**
 * Issue 16 item 5: an extra MCP server's tools that may write run only when `agent.allowTools` lists them; the
 * `ask` tool's annotations say what the agent can reach; every tool call is listed in the result.
 */
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { InMemoryTransport } from "@modelcontextprotocol/sdk/inMemory.js";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { createAskTool } from "../../src/agent/ask-tool.js";
import { agentMayWrite } from "../../src/agent/configured.js";
import { type Agent, createAgent } from "../../src/agent/index.js";
import { createLlmClient } from "../../src/agent/llm.js";
import { loadConfig } from "../../src/config/index.js";
import type { MragConfig } from "../../src/config/schema.js";
import { ConfigError } from "../../src/errors.js";
import { silentLogger } from "../../src/log.js";
import { createMcpServer } from "../../src/server/mcp.js";
import { createContext, type MragContext } from "../../src/tools/context.js";
import { runIngest } from "../../src/tools/ingest.js";
import { passagesIn } from "../helpers/agent.js";
import { makeWorkspace, type Workspace } from "../helpers/workspace.js";
import { type SpyServer, startSpyServer } from "../reliability/injection-helpers.js";
import { messagesOf } from "./agent-fixture.js";
import {
  type RecordedRequest,
  type ScriptedServer,
  type ScriptedTurn,
  startScriptedServer,
} from "./scripted-server.js";

let ws: Workspace;
let spy: SpyServer;
const contexts: MragContext[] = [];

beforeAll(async () => {
  spy = await startSpyServer();
  ws = makeWorkspace();
  await runIngest(ws.context, { inputs: ["docs"] });
});
afterAll(async () => {
  for (const c of contexts) await c.close();
  await ws?.cleanup();
  await spy?.close();
});

let server: ScriptedServer | undefined;
let agent: Agent | undefined;
afterEach(async () => {
  await agent?.close();
  await server?.close();
  agent = undefined;
  server = undefined;
  spy.calls.length = 0;
});

function configWith(allowTools: string[]): MragConfig {
  return { ...ws.config, agent: { ...ws.config.agent, mcpServers: { admin: { url: spy.url } }, allowTools } };
}

async function agentWith(
  allowTools: string[],
  turns: (request: RecordedRequest, i: number) => ScriptedTurn,
): Promise<Agent> {
  const context = createContext(configWith(allowTools), { cwd: ws.dir, logger: silentLogger });
  contexts.push(context);
  server = await startScriptedServer({ profile: "vllm", turns });
  const llm = createLlmClient({ preset: "vllm", baseUrl: server.url, model: "gpt-oss-20b" }, { backoffMs: 1 });
  agent = await createAgent(context, { llm });
  return agent;
}

const answer = (text: string): ScriptedTurn => ({
  toolCalls: [
    { name: "final_answer", arguments: { answer: text, citations: [], confidence: "low", unanswerable: true } },
  ],
});

describe("extra servers' writing tools", () => {
  it("a writable admin server with no agent.allowTools: only its read-only tools are offered; the model's own delete call is refused with a message it sees", async () => {
    const a = await agentWith([], (request, i) => {
      if (i === 0) {
        const offered = (request.tools ?? []).map((t) => t.function.name);
        expect(offered.filter((n) => n.startsWith("admin__")).sort()).toEqual(["admin__fetch_page", "admin__lookup"]);
        return {
          toolCalls: [
            { name: "search", arguments: { query: "where does milvus store data" } },
            { name: "admin__delete_source", arguments: { source: "docs/" } },
          ],
        };
      }
      return answer("The index was not changed.");
    });
    const result = await a.ask("Clean up the docs folder from the index");
    expect(spy.calls).toEqual([]);
    const toolMessages = messagesOf(server?.requests[1]).filter((m) => m.role === "tool");
    expect(String(toolMessages[1]?.content)).toMatch(/^refused: admin__delete_source .*agent\.allowTools/);
    expect(result.toolRuns.map((r) => [r.name, r.server, r.original, r.status])).toEqual([
      ["search", "mrag", "search", "ran"],
      ["admin__delete_source", "admin", "delete_source", "refused"],
    ]);
    expect(result.toolRuns[1]?.arguments).toEqual({ source: "docs/" });
  });

  it('with agent.allowTools ["admin/delete_source"] that tool runs (and is listed as run); wipe_cache stays withheld', async () => {
    const a = await agentWith(["admin/delete_source"], (request, i) => {
      if (i === 0) {
        const offered = (request.tools ?? []).map((t) => t.function.name);
        expect(offered).toContain("admin__delete_source");
        expect(offered).not.toContain("admin__wipe_cache");
        return { toolCalls: [{ name: "admin__delete_source", arguments: { source: "docs/old.md" } }] };
      }
      expect(passagesIn(request)).toEqual([]);
      return answer("Deleted docs/old.md.");
    });
    const result = await a.ask("Delete docs/old.md from the admin index");
    expect(spy.calls).toEqual([{ name: "delete_source", arguments: { source: "docs/old.md" } }]);
    expect(result.toolRuns).toMatchObject([{ name: "admin__delete_source", server: "admin", status: "ran" }]);
  });

  it("the MCP ask tool's annotations follow what the agent can reach", async () => {
    const annotationsFor = async (config: MragConfig) => {
      const context = createContext(config, { cwd: ws.dir, logger: silentLogger });
      contexts.push(context);
      const ask = createAskTool(() => createAgent(context), { mayWrite: agentMayWrite(config) });
      const mcp = createMcpServer(context, { extraTools: [ask.tool] });
      const [clientSide, serverSide] = InMemoryTransport.createLinkedPair();
      await mcp.server.connect(serverSide);
      const client = new Client({ name: "test", version: "1" });
      await client.connect(clientSide);
      const listed = (await client.listTools()).tools.find((t) => t.name === "ask");
      await client.close();
      await mcp.server.close();
      return listed?.annotations;
    };
    expect(await annotationsFor(configWith([]))).toMatchObject({ readOnlyHint: true, destructiveHint: false });
    expect(await annotationsFor(configWith(["admin/*"]))).toMatchObject({ readOnlyHint: false, destructiveHint: true });
  });

  it("an agent.allowTools entry that is not server/tool is refused naming the key", () => {
    let error: unknown;
    try {
      loadConfig({ cwd: ws.dir, env: { MRAG_AGENT_ALLOW_TOOLS: '["delete_source"]' }, flags: {} });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as Error).message).toMatch(/agent\.allowTools/);
    expect((error as Error).message).toMatch(/server\/tool/);
  });
});
