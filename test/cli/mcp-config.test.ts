import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runMrag, userEnv } from "../helpers/cli.js";
import { makeWorkspace, type Workspace } from "../helpers/workspace.js";

interface Snippet {
  mcpServers: Record<string, { command: string; args: string[]; env: Record<string, string> }>;
}

describe("mrag mcp-config", () => {
  let ws: Workspace;
  beforeAll(() => {
    ws = makeWorkspace();
  });
  afterAll(async () => ws?.cleanup());

  it("prints a Claude Desktop snippet with absolute paths that starts a working server from /", async () => {
    const r = await runMrag(["mcp-config", "claude-desktop"], { cwd: ws.dir, env: { MRAG_STORE: "store" } });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/claude_desktop_config\.json/);
    const entry = (JSON.parse(r.stdout) as Snippet).mcpServers.mrag;
    expect(entry?.command).toBe(process.execPath);
    expect(entry?.args[0]).toMatch(/^\/.*bin\/mrag\.js$/);
    expect(entry?.env).toEqual({ MRAG_STORE: ws.storeDir, MRAG_ALLOW_ROOTS: ws.dir });

    // Start it exactly as the client would: from /, with only that env.
    const transport = new StdioClientTransport({
      command: entry?.command as string,
      args: entry?.args ?? [],
      cwd: "/",
      env: userEnv(entry?.env),
      stderr: "pipe",
    });
    const client = new Client({ name: "mcp-config-test", version: "0" });
    await client.connect(transport);
    try {
      const ingest = await client.callTool({ name: "ingest", arguments: { paths: [ws.docs] } });
      expect(ingest.isError, JSON.stringify(ingest.content)).toBeFalsy();
      const status = await client.callTool({ name: "status", arguments: {} });
      expect((status.structuredContent as { sources: number }).sources).toBe(4);
    } finally {
      await client.close();
    }
  }, 60_000);

  it("prints a claude mcp add line and a Cursor snippet; --read-only drops the allowed root", async () => {
    const code = await runMrag(["mcp-config", "claude-code", "--read-only", "--name", "docs"], {
      cwd: ws.dir,
      env: { MRAG_STORE: ws.storeDir },
    });
    expect(code.stdout).toBe(
      `claude mcp add docs -e MRAG_STORE=${ws.storeDir} -- ${process.execPath} ${
        (JSON.parse((await runMrag(["mcp-config", "cursor"], { cwd: ws.dir })).stdout) as Snippet).mcpServers.mrag
          ?.args[0]
      } serve --read-only\n`,
    );
    const bad = await runMrag(["mcp-config", "vscode"], { cwd: ws.dir });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/Allowed choices are claude-code, claude-desktop, cursor/);
  });
});
