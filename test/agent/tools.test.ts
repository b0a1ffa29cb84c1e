import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createToolHost, resolveToolName, toFunctionTools } from "../../src/agent/tools.js";
import type { AgentTool, ToolHost } from "../../src/agent/types.js";
import { createLogger } from "../../src/log.js";
import { runIngest } from "../../src/tools/ingest.js";
import { MRAG_BIN, userEnv } from "../helpers/cli.js";
import { makeWorkspace, type Workspace } from "../helpers/workspace.js";

const QUESTION = "How is data stored in milvus?";

interface Hit {
  id: string;
  heading?: string;
  source: string;
}

function capturingLogger() {
  const lines: string[] = [];
  return { lines, logger: createLogger("debug", (line) => lines.push(line.trimEnd())) };
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function waitFor(check: () => boolean, ms: number): Promise<boolean> {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    if (check()) return true;
    await new Promise((r) => setTimeout(r, 50));
  }
  return check();
}

function tool(name: string, server = "mrag"): AgentTool {
  return { name, server, original: name, description: "", parameters: { type: "object", properties: {} } };
}

describe("tool host: mrag's own server, in-process and read-only", () => {
  let ws: Workspace;
  let host: ToolHost;

  beforeAll(async () => {
    ws = makeWorkspace();
    await runIngest(ws.context, { inputs: [ws.docs] });
    host = await createToolHost(ws.context, { servers: {} });
  });

  afterAll(async () => {
    await host?.close();
    await ws?.cleanup();
  });

  it("offers the reading tools only, under their own names", () => {
    expect(host.tools.map((t) => t.name).sort()).toEqual(["list_sources", "read", "search", "status"]);
    expect(host.tools.every((t) => t.server === "mrag" && t.original === t.name)).toBe(true);
    // The caller's context is untouched: only the agent's copy is read-only.
    expect(ws.context.config.server.readOnly).toBe(false);
  });

  it("searches the ingested fixture with structured hits", async () => {
    const result = await host.call("search", { query: QUESTION, k: 5 });
    expect(result.isError).toBe(false);
    expect(result.text).toMatch(/etcd|MinIO|S3/i);
    const hits = (result.structured as { hits: Hit[] }).hits;
    expect(hits.length).toBeGreaterThan(0);
    expect(hits[0]?.heading).toMatch(/Where does Milvus store data\?$/);

    const read = await host.call("read", { ids: [hits[0]?.id] });
    expect(read.isError).toBe(false);
    expect(read.text).toContain("etcd");
  });

  it("returns mrag's own message for bad arguments", async () => {
    const result = await host.call("search", { query: 42, k: "many" });
    expect(result.isError).toBe(true);
    expect(result.text).toMatch(/query|k/);
    expect(result.structured).toBeUndefined();
  });

  it("refuses ingest and delete_source (never offered, and not callable)", async () => {
    for (const name of ["ingest", "delete_source"]) {
      const result = await host.call(name, { inputs: [ws.docs] });
      expect(result.isError).toBe(true);
      expect(result.text).toContain("search, read");
    }
  });

  it("answers an unknown tool name with the list of tools, without throwing", async () => {
    for (const name of ["browser.search", "python"]) {
      const result = await host.call(name, { query: "x" });
      expect(result.isError).toBe(true);
      expect(result.text).toContain(`"${name}"`);
      for (const t of ["search", "read", "list_sources", "status"]) expect(result.text).toContain(t);
    }
  });

  it("turns a cancelled call into an error result", async () => {
    const controller = new AbortController();
    controller.abort();
    const result = await host.call("search", { query: QUESTION }, controller.signal);
    expect(result.isError).toBe(true);
    expect(result.text).toMatch(/cancelled/);
  });

  it("offers function tools with safe names and the input schemas", () => {
    const fns = toFunctionTools(host.tools);
    expect(fns).toHaveLength(4);
    for (const fn of fns) {
      expect(fn.type).toBe("function");
      expect(fn.function.name).toMatch(/^[A-Za-z0-9_]{1,64}$/);
      expect(fn.function.parameters.type).toBe("object");
      expect(fn.function.description.length).toBeGreaterThan(0);
    }
    const search = fns.find((f) => f.function.name === "search");
    expect(Object.keys(search?.function.parameters.properties as object)).toContain("query");
  });
});

describe("resolveToolName", () => {
  const tools = [tool("search"), tool("read"), tool("list_sources"), tool("status"), tool("docs__search", "docs")];

  it("maps what models write back to the offered names", () => {
    expect(resolveToolName(tools, "search")).toBe("search");
    expect(resolveToolName(tools, "search<|channel|>analysis")).toBe("search");
    expect(resolveToolName(tools, "read<|constrain|>json")).toBe("read");
    expect(resolveToolName(tools, "functions.search")).toBe("search");
    expect(resolveToolName(tools, "functions.list_sources<|channel|>commentary")).toBe("list_sources");
    expect(resolveToolName(tools, "list-sources")).toBe("list_sources");
    expect(resolveToolName(tools, "list sources")).toBe("list_sources");
    expect(resolveToolName(tools, "docs__search")).toBe("docs__search");
  });

  it("returns undefined for tools that are not offered", () => {
    expect(resolveToolName(tools, "browser.search")).toBeUndefined();
    expect(resolveToolName(tools, "python")).toBeUndefined();
    expect(resolveToolName(tools, "")).toBeUndefined();
    expect(resolveToolName(tools, "<|channel|>analysis")).toBeUndefined();
  });
});

describe("toFunctionTools", () => {
  it("prefixes extra servers' descriptions and fills in a missing properties object", () => {
    const [own, extra] = toFunctionTools([
      { ...tool("search"), description: "Search the knowledge base." },
      { name: "web__fetch", server: "web", original: "fetch", description: "Fetch a URL.", parameters: {} },
    ]);
    expect(own?.function.description).toBe("Search the knowledge base.");
    expect(extra?.function.description).toBe("[web] Fetch a URL.");
    expect(extra?.function.parameters).toEqual({ type: "object", properties: {} });
  });
});

describe("tool host: extra MCP servers", () => {
  let ws: Workspace;
  let host: ToolHost;
  const { lines, logger } = capturingLogger();

  beforeAll(async () => {
    ws = makeWorkspace();
    await runIngest(ws.context, { inputs: [ws.docs] });
    host = await createToolHost(ws.context, {
      logger,
      servers: {
        // The built CLI itself, spawned as a stdio server over the same store.
        "other-kb": {
          command: process.execPath,
          args: [MRAG_BIN, "serve", "--read-only"],
          env: userEnv({ MRAG_STORE: ws.storeDir, MRAG_LOG_LEVEL: "debug" }),
          cwd: ws.dir,
        },
        ghost: { command: "/nonexistent/mcp-server-that-does-not-exist", args: [] },
      },
    });
  });

  afterAll(async () => {
    await host?.close();
    await ws?.cleanup();
  });

  it("lists the extra server's tools as <server>__<tool>, sanitised, after mrag's own", () => {
    const names = host.tools.map((t) => t.name);
    expect(names.slice(0, 4).sort()).toEqual(["list_sources", "read", "search", "status"]);
    expect(names).toContain("other_kb__search");
    expect(names).not.toContain("other_kb__ingest");
    const extra = host.tools.find((t) => t.name === "other_kb__search");
    expect(extra).toMatchObject({ server: "other-kb", original: "search" });
    for (const fn of toFunctionTools(host.tools)) expect(fn.function.name).toMatch(/^[A-Za-z0-9_]{1,64}$/);
    const fn = toFunctionTools(host.tools).find((f) => f.function.name === "other_kb__search");
    expect(fn?.function.description.startsWith("[other-kb] ")).toBe(true);
    expect(resolveToolName(host.tools, "other-kb__search")).toBe("other_kb__search");
  });

  it("calls a tool on the extra server", async () => {
    const result = await host.call("other_kb__search", { query: QUESTION, k: 3 });
    expect(result.isError).toBe(false);
    const hits = (result.structured as { hits: Hit[] }).hits;
    expect(hits[0]?.heading).toMatch(/Where does Milvus store data\?$/);
  });

  it("skips a server that cannot start with one warning naming it, and still works", async () => {
    const warnings = lines.filter((l) => l.startsWith("mrag warning:"));
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toContain('"ghost"');
    expect(warnings[0]).toMatch(/ENOENT/);
    expect(host.tools.some((t) => t.server === "ghost")).toBe(false);
    const result = await host.call("search", { query: QUESTION });
    expect(result.isError).toBe(false);
  });

  it("logs the stdio server's stderr at debug level", () => {
    expect(lines.some((l) => l.startsWith("mrag debug: [other-kb] "))).toBe(true);
  });
});

describe("tool host: lifecycle", () => {
  let ws: Workspace;
  beforeAll(() => {
    ws = makeWorkspace({ copyFaq: false });
  });
  afterAll(async () => {
    await ws?.cleanup();
  });

  it("close() ends the child process, and later calls come back as errors", async () => {
    const { lines, logger } = capturingLogger();
    const host = await createToolHost(ws.context, {
      logger,
      servers: {
        kb: {
          command: process.execPath,
          args: [
            "-e",
            // Print the pid on stderr, then become the built CLI's stdio server.
            "process.stderr.write('pid=' + process.pid + '\\n'); import(process.argv[1]);",
            MRAG_BIN,
            "serve",
            "--read-only",
          ],
          env: userEnv({ MRAG_STORE: ws.storeDir }),
          cwd: ws.dir,
        },
      },
    });
    const pidLine = lines.find((l) => l.includes("[kb] pid="));
    const pid = Number(pidLine?.split("pid=")[1]);
    expect(pid).toBeGreaterThan(0);
    expect(processAlive(pid)).toBe(true);
    expect(host.tools.map((t) => t.name)).toContain("kb__status");

    await host.close();
    expect(await waitFor(() => !processAlive(pid), 5000)).toBe(true);
    const result = await host.call("kb__status", {});
    expect(result.isError).toBe(true);
    const own = await host.call("status", {});
    expect(own.isError).toBe(true);
    await host.close(); // idempotent
  });

  it("fails when cancelled before it starts", async () => {
    const controller = new AbortController();
    controller.abort();
    await expect(createToolHost(ws.context, { servers: {}, signal: controller.signal })).rejects.toThrow();
  });

  it("skips a server that does not answer within the timeout", async () => {
    const { lines, logger } = capturingLogger();
    const host = await createToolHost(ws.context, {
      logger,
      connectTimeoutMs: 500,
      servers: { mute: { command: process.execPath, args: ["-e", "setInterval(() => {}, 1000)"] } },
    });
    try {
      expect(host.tools.map((t) => t.name).sort()).toEqual(["list_sources", "read", "search", "status"]);
      const warnings = lines.filter((l) => l.startsWith("mrag warning:"));
      expect(warnings).toHaveLength(1);
      expect(warnings[0]).toMatch(/"mute".*within/);
    } finally {
      await host.close();
    }
  });
});
