import { mkdirSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import path from "node:path";
import type { Client } from "@modelcontextprotocol/sdk/client/index.js";
import type { CallToolResult, Tool } from "@modelcontextprotocol/sdk/types.js";
import { Ajv, type ValidateFunction } from "ajv";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadConfig } from "../../src/config/index.js";
import { silentLogger } from "../../src/log.js";
import type { MragContext } from "../../src/tools/context.js";
import { createContext } from "../../src/tools/context.js";
import type { DeleteSourceOutput } from "../../src/tools/delete-source.js";
import type { IngestOutput } from "../../src/tools/ingest.js";
import type { ListSourcesOutput } from "../../src/tools/list-sources.js";
import type { ReadOutput } from "../../src/tools/read.js";
import type { SearchOutput } from "../../src/tools/search.js";
import type { StatusOutput } from "../../src/tools/status.js";
import { connectInMemory, type InMemoryConnection } from "../helpers/mcp.js";
import { makeWorkspace, type Workspace } from "../helpers/workspace.js";

const FAQ_FILES = [
  "docs/operational_faq.md",
  "docs/performance_faq.md",
  "docs/product_faq.md",
  "docs/troubleshooting.md",
];
const ALL_TOOLS = ["search", "read", "list_sources", "status", "ingest", "delete_source"];
const QUESTION = "How is data stored in milvus?";
const FLUX = { source: "notes/flux.md", text: "# Flux\n\nThe flux capacitor needs 1.21 gigawatts." };

/**
 * A real SDK client on one side of an in-memory link, mrag's server on the other: every call goes through
 * the SDK's JSON-RPC handling, and every structured result is checked against the schema the server listed.
 */
class Caller {
  private readonly validators = new Map<string, ValidateFunction>();
  tools: Tool[] = [];

  constructor(readonly client: Client) {}

  async listTools(): Promise<Tool[]> {
    this.tools = (await this.client.listTools()).tools;
    const ajv = new Ajv({ allErrors: true, allowUnionTypes: true });
    this.validators.clear();
    for (const tool of this.tools) {
      if (tool.outputSchema) this.validators.set(tool.name, ajv.compile(tool.outputSchema));
    }
    return this.tools;
  }

  async raw(name: string, args: Record<string, unknown>, onprogress?: (p: { progress: number }) => void) {
    return (await this.client.callTool(
      { name, arguments: args },
      undefined,
      onprogress ? { onprogress } : {},
    )) as CallToolResult;
  }

  /** A call that must succeed: non-empty text and structured content valid against the listed outputSchema. */
  async ok<T>(name: string, args: Record<string, unknown> = {}, onprogress?: (p: { progress: number }) => void) {
    const result = await this.raw(name, args, onprogress);
    const text = result.content.map((c) => (c.type === "text" ? c.text : "")).join("");
    expect(result.isError, text).toBeFalsy();
    expect(text.trim().length).toBeGreaterThan(0);
    const validate = this.validators.get(name);
    expect(validate, `no outputSchema listed for ${name}`).toBeDefined();
    const valid = validate?.(result.structuredContent);
    expect(validate?.errors ?? [], `${name} structuredContent vs outputSchema`).toEqual([]);
    expect(valid).toBe(true);
    return { structured: result.structuredContent as T, text };
  }

  /** A call that must fail as a tool result (isError), never as a protocol error; returns its message. */
  async fails(name: string, args: Record<string, unknown>): Promise<string> {
    const result = await this.raw(name, args);
    expect(result.isError).toBe(true);
    expect(result.structuredContent).toBeUndefined();
    const first = result.content[0];
    expect(first?.type).toBe("text");
    return first?.type === "text" ? first.text : "";
  }
}

/** A second context on the same store with other settings (read-only, a small output budget). */
function contextOn(ws: Workspace, flags: Record<string, unknown>): MragContext {
  const { config } = loadConfig({ cwd: ws.dir, env: {}, flags: { store: ws.storeDir, ...flags } });
  return createContext(config, { cwd: ws.dir, logger: silentLogger });
}

describe("MCP protocol over the SDK client", () => {
  let ws: Workspace;
  let conn: InMemoryConnection;
  let mcp: Caller;

  beforeAll(async () => {
    ws = makeWorkspace();
    conn = await connectInMemory(ws.context);
    mcp = new Caller(conn.client);
  });
  afterAll(async () => {
    await conn?.close();
    await ws?.cleanup();
  });

  it("initializes with name, version, capabilities and instructions", () => {
    const info = conn.client.getServerVersion();
    expect(info?.name).toBe("mrag");
    expect(info?.version).toMatch(/^\d+\.\d+\.\d+/);
    const caps = conn.client.getServerCapabilities();
    expect(caps?.tools).toBeDefined();
    expect(caps?.resources).toBeDefined();
    expect(caps?.prompts).toBeDefined();
    expect(conn.client.getInstructions()).toMatch(/search/);
  });

  it("lists exactly the six tools with schemas and correct annotations", async () => {
    const tools = await mcp.listTools();
    expect(tools.map((t) => t.name)).toEqual(ALL_TOOLS);
    for (const tool of tools) {
      expect(tool.description?.length ?? 0).toBeGreaterThan(40);
      expect(tool.inputSchema.type).toBe("object");
      expect(tool.outputSchema?.type).toBe("object");
      const a = tool.annotations;
      const reader = ["search", "read", "list_sources", "status"].includes(tool.name);
      expect(a?.readOnlyHint, tool.name).toBe(reader);
      expect(a?.destructiveHint, tool.name).toBe(tool.name === "delete_source");
      expect(a?.openWorldHint, tool.name).toBe(tool.name === "ingest");
    }
    const search = tools.find((t) => t.name === "search");
    expect(search?.inputSchema.required).toEqual(["query"]);
    expect(search?.inputSchema.additionalProperties).toBe(false);
  });

  it("status before anything is ingested says the collection does not exist", async () => {
    const { structured } = await mcp.ok<StatusOutput>("status");
    expect(structured.exists).toBe(false);
    expect(structured.chunks).toBe(0);
    expect(structured.readOnly).toBe(false);
    const listed = await mcp.ok<ListSourcesOutput>("list_sources");
    expect(listed.structured).toEqual({ sources: [], total: 0 });
    expect(listed.text).toMatch(/Use `ingest`/);
    expect((await conn.client.listResources()).resources).toEqual([]);
    await expect(conn.client.readResource({ uri: "mrag://source/docs/product_faq.md" })).rejects.toMatchObject({
      code: -32002,
    });
  });

  it("ingests the docs folder (4 added), then again (4 unchanged)", async () => {
    const first = await mcp.ok<IngestOutput>("ingest", { paths: ["docs"] });
    expect(first.structured.added.sort()).toEqual(FAQ_FILES);
    expect(first.structured.counts).toMatchObject({ added: 4, updated: 0, skipped: 0 });
    expect(first.text).toMatch(/4 added/);
    const again = await mcp.ok<IngestOutput>("ingest", { paths: ["docs"] });
    expect(again.structured.unchanged.sort()).toEqual(FAQ_FILES);
    expect(again.structured.counts).toMatchObject({ added: 0, updated: 0, unchanged: 4 });
    expect(again.structured.chunksWritten).toBe(0);

    const status = await mcp.ok<StatusOutput>("status");
    expect(status.structured).toMatchObject({ exists: true, sources: 4 });
    expect(status.structured.embedder.modelId).toMatch(/^builtin/);
    expect(status.structured.chunks).toBe(first.structured.chunksWritten);
    expect(status.structured.lastIngestAt).not.toBeNull();
  });

  it("ingests inline text as inline:<source>, with progress notifications, and finds it", async () => {
    const progress: number[] = [];
    const { structured } = await mcp.ok<IngestOutput>("ingest", { texts: [FLUX] }, (p) => progress.push(p.progress));
    expect(structured.added).toEqual(["inline:notes/flux.md"]);
    expect(progress.length).toBeGreaterThanOrEqual(2);
    for (let i = 1; i < progress.length; i++) expect(progress[i]).toBeGreaterThan(progress[i - 1] as number);
    const { structured: found } = await mcp.ok<SearchOutput>("search", { query: "flux capacitor gigawatts", k: 3 });
    expect(found.hits[0]?.source).toBe("inline:notes/flux.md");
    expect(found.hits[0]?.snippet).toContain("1.21 gigawatts");
  });

  let storedHit: SearchOutput["hits"][number] | undefined;

  it("search ranks 'Where does Milvus store data?' first, with bounded snippets", async () => {
    const { structured, text } = await mcp.ok<SearchOutput>("search", { query: QUESTION, k: 5, snippet_chars: 80 });
    expect(structured.hits.length).toBe(5);
    storedHit = structured.hits[0];
    expect(storedHit?.heading).toMatch(/Where does Milvus store data\?$/);
    expect(storedHit?.source).toBe("docs/product_faq.md");
    structured.hits.forEach((hit, i) => {
      expect(hit.rank).toBe(i + 1);
      expect(hit.id).toMatch(/^[0-9a-f]{32}$/);
      expect(hit.lineStart).toBeGreaterThanOrEqual(1);
      expect(hit.lineEnd).toBeGreaterThanOrEqual(hit.lineStart);
      expect(hit.snippet.length).toBeGreaterThan(0);
      expect(hit.snippet.length).toBeLessThanOrEqual(80);
    });
    expect(structured.hits.some((h) => h.snippetTruncated)).toBe(true);
    expect(structured.truncated).toBe(false);
    expect(text).toContain(`id: ${storedHit?.id}`);

    // Deep matches get a "… " lead-in, which counts toward snippet_chars too.
    const deep = await mcp.ok<SearchOutput>("search", { query: "etcd", mode: "keyword", k: 10, snippet_chars: 60 });
    expect(deep.structured.hits.some((h) => h.snippet.startsWith("… "))).toBe(true);
    for (const hit of deep.structured.hits) expect(hit.snippet.length).toBeLessThanOrEqual(60);
  });

  it("read by id returns the chunk's full text and its neighbours with roles", async () => {
    const hit = storedHit as SearchOutput["hits"][number];
    const { structured } = await mcp.ok<ReadOutput>("read", { ids: [hit.id], before: 1, after: 1 });
    expect(structured.truncated).toBe(false);
    expect(structured.chunks.map((c) => c.role)).toEqual(["before", "requested", "after"]);
    const position = structured.chunks[1]?.position ?? -1;
    expect(structured.chunks.map((c) => c.position)).toEqual([position - 1, position, position + 1]);
    const requested = structured.chunks[1];
    expect(requested?.id).toBe(hit.id);
    expect(requested?.text).toContain("Where does Milvus store data?");
    expect(requested?.text).toContain("etcd");
    expect(requested?.text?.length ?? 0).toBeGreaterThan(80);
    expect(structured.chunks.every((c) => c.source === hit.source && (c.text?.length ?? 0) > 0)).toBe(true);
  });

  it("read by source returns its text and line range; line_start/line_end narrow it", async () => {
    const file = readFileSync(path.join(ws.docs, "product_faq.md"), "utf8");
    const fileLines = file.trimEnd().split("\n").length;
    // The whole file is more than one result may hold: follow nextLineStart to the end.
    const whole = await mcp.ok<ReadOutput>("read", { source: "docs/product_faq.md" });
    const s = whole.structured.source;
    // The front matter (lines 1-6) is not stored; the text starts at the first chunk.
    expect(s?.lineStart).toBe(whole.structured.chunks[0]?.lineStart);
    expect(s?.lineStart).toBeLessThanOrEqual(10);
    expect(s?.totalLines).toBeGreaterThanOrEqual(fileLines - 2);
    expect(whole.structured.chunks.every((c) => c.role === "source" && c.text === undefined)).toBe(true);
    let text = s?.text ?? "";
    let next = s?.nextLineStart;
    let last = s;
    for (let page = 0; next !== undefined && page < 10; page++) {
      expect(last?.lineEnd).toBe(next - 1);
      const more = await mcp.ok<ReadOutput>("read", { source: "docs/product_faq.md", line_start: next });
      last = more.structured.source;
      expect(last?.lineEnd).toBeGreaterThanOrEqual(next);
      text += last?.text ?? "";
      next = last?.nextLineStart;
    }
    expect(next).toBeUndefined();
    expect(last?.lineEnd).toBe(s?.totalLines);
    for (const heading of file.match(/^#### .+$/gm) ?? []) expect(text).toContain(heading);

    const part = await mcp.ok<ReadOutput>("read", { source: "docs/product_faq.md", line_start: 20, line_end: 30 });
    const p = part.structured.source;
    expect(p?.lineStart).toBeLessThanOrEqual(20);
    expect(p?.lineEnd).toBeGreaterThanOrEqual(30);
    expect(p?.lineEnd).toBeLessThan(s?.totalLines as number);
    expect(p?.text.length).toBeLessThan(text.length / 4);
    expect(part.structured.truncated).toBe(false);
  });

  it("list_sources paginates with nextCursor and filters by prefix", async () => {
    const seen: string[] = [];
    let cursor: string | undefined;
    for (let page = 0; page < 5; page++) {
      const args: Record<string, unknown> = { limit: 2, ...(cursor ? { cursor } : {}) };
      const { structured } = await mcp.ok<ListSourcesOutput>("list_sources", args);
      expect(structured.total).toBe(5);
      expect(structured.sources.length).toBeLessThanOrEqual(2);
      seen.push(...structured.sources.map((s) => s.source));
      cursor = structured.nextCursor;
      if (!cursor) break;
    }
    expect(cursor).toBeUndefined();
    expect(seen).toEqual([...FAQ_FILES, "inline:notes/flux.md"]);
    const docs = await mcp.ok<ListSourcesOutput>("list_sources", { prefix: "docs/" });
    expect(docs.structured.total).toBe(4);
    expect(docs.structured.sources.every((s) => s.chunks > 0 && s.fileType === "markdown")).toBe(true);
    const inline = await mcp.ok<ListSourcesOutput>("list_sources", { prefix: "inline:" });
    expect(inline.structured.sources.map((s) => s.source)).toEqual(["inline:notes/flux.md"]);
  });

  it("resources list every source as mrag://source/... and read returns its text", async () => {
    const { resources } = await conn.client.listResources();
    expect(resources.map((r) => r.name)).toEqual([...FAQ_FILES, "inline:notes/flux.md"]);
    for (const r of resources) expect(r.uri.startsWith("mrag://source/")).toBe(true);
    const flux = resources.find((r) => r.name === "inline:notes/flux.md");
    const read = await conn.client.readResource({ uri: flux?.uri as string });
    const content = read.contents[0];
    expect(content && "text" in content ? content.text : "").toContain("1.21 gigawatts");
    const faq = await conn.client.readResource({ uri: "mrag://source/docs/product_faq.md" });
    expect(faq.contents[0] && "text" in faq.contents[0] ? faq.contents[0].text : "").toContain("etcd");
    const { resourceTemplates } = await conn.client.listResourceTemplates();
    expect(resourceTemplates[0]?.uriTemplate).toBe("mrag://source/{+path}");
  });

  it("reading an unknown resource is an error", async () => {
    await expect(conn.client.readResource({ uri: "mrag://source/docs/nope.md" })).rejects.toThrow(
      /no source "docs\/nope.md"/,
    );
    await expect(conn.client.readResource({ uri: "https://example.com/" })).rejects.toThrow(/not an mrag resource/);
  });

  it("prompts: answer_with_citations embeds the question; a missing question is an error", async () => {
    const { prompts } = await conn.client.listPrompts();
    expect(prompts.map((p) => p.name)).toEqual(["answer_with_citations"]);
    expect(prompts[0]?.arguments?.[0]).toMatchObject({ name: "question", required: true });
    const prompt = await conn.client.getPrompt({ name: "answer_with_citations", arguments: { question: QUESTION } });
    const message = prompt.messages[0];
    expect(message?.role).toBe("user");
    expect(message?.content.type === "text" ? message.content.text : "").toContain(`Question: ${QUESTION}`);
    await expect(conn.client.getPrompt({ name: "answer_with_citations", arguments: {} })).rejects.toThrow(/question/);
    await expect(conn.client.getPrompt({ name: "nope" })).rejects.toThrow(/unknown prompt/);
  });

  it("delete_source removes the inline source; an unknown source matches nothing", async () => {
    const { structured } = await mcp.ok<DeleteSourceOutput>("delete_source", { source: "inline:notes/flux.md" });
    expect(structured.deletedSources).toEqual(["inline:notes/flux.md"]);
    expect(structured.chunksRemoved).toBeGreaterThan(0);
    const { structured: found } = await mcp.ok<SearchOutput>("search", { query: "flux capacitor gigawatts" });
    expect(found.hits.some((h) => h.source.startsWith("inline:"))).toBe(false);
    const none = await mcp.ok<DeleteSourceOutput>("delete_source", { source: "docs/nope.md" });
    expect(none.structured.sourceCount).toBe(0);
    expect(none.text).toMatch(/Nothing matched/);
    const status = await mcp.ok<StatusOutput>("status");
    expect(status.structured.sources).toBe(4);
  });

  it("bad input is an isError result naming the field and the fix", async () => {
    const cases: [string, Record<string, unknown>, RegExp[]][] = [
      ["search", { query: 42 }, [/query:/, /expected string/]],
      ["search", {}, [/query: missing/, /required/]],
      ["search", { query: "  " }, [/query:/, /pass the words to search for/]],
      ["search", { query: "etcd", k: 0 }, [/k:/, /between 1 and 50/]],
      ["search", { query: "etcd", k: 10_000 }, [/k:/, /between 1 and 50/]],
      ["search", { query: "etcd", filter: { colour: "red" } }, [/filter:/, /"colour"/, /remove/]],
      ["search", { query: "etcd", colour: "red" }, [/"colour"/, /remove/]],
      ["read", { ids: ["0123456789abcdef0123456789abcdef"] }, [/ids\[0\]/, /search again/]],
      ["read", { ids: [storedHit?.id], source: "docs/product_faq.md" }, [/source:/, /not both/]],
      ["read", {}, [/ids:/, /pass ids .* or source/]],
      ["list_sources", { cursor: "garbage!" }, [/cursor:/, /omit it/]],
      ["ingest", { paths: ["/etc"] }, [/paths\[0\]/, /outside the allowed roots/, /inside/]],
      ["ingest", { paths: ["../"] }, [/paths\[0\]/, /"\.\." is not allowed/, /inside an allowed root/]],
      ["ingest", { paths: ["docs/../docs"] }, [/paths\[0\]/, /"\.\." is not allowed/]],
      ["ingest", { paths: ["no/such/folder"] }, [/paths\[0\]/, /no such file or folder/, /working directory/]],
      ["ingest", { urls: ["http://127.0.0.1:9/x"] }, [/urls\[0\]/, /could not fetch/, /check the address/]],
      ["ingest", { urls: ["file:///etc/passwd"] }, [/urls\[0\]/, /http:\/\/ or https:\/\//]],
      ["ingest", {}, [/paths:/, /pass paths, urls or texts/]],
      ["ingest", { texts: [FLUX, { ...FLUX, source: "inline:notes/flux.md" }] }, [/texts\[1\]\.source/, /own/]],
      [
        "ingest",
        { texts: [{ source: "huge", text: "x".repeat(10 * 1024 * 1024 + 1) }] },
        [/texts\[0\]\.text is 10485761 bytes/, /ingest\.maxFileBytes/, /split it/],
      ],
      ["delete_source", {}, [/source:/, /pass source or prefix/]],
      ["delete_source", { source: "a", prefix: "b" }, [/prefix:/, /not both/]],
    ];
    for (const [name, args, patterns] of cases) {
      const message = await mcp.fails(name, args);
      for (const pattern of patterns) expect(message, `${name} ${JSON.stringify(args)}`).toMatch(pattern);
    }
    // An unknown tool is a protocol error (JSON-RPC -32602), not a tool result.
    await expect(conn.client.callTool({ name: "no_such_tool", arguments: {} })).rejects.toThrow(
      /^MCP error -32602: unknown tool "no_such_tool"; available tools: search/,
    );
    // None of that hurt the server or the store.
    const { structured } = await mcp.ok<SearchOutput>("search", { query: QUESTION, k: 1 });
    expect(structured.hits[0]?.heading).toMatch(/Where does Milvus store data\?$/);
    expect((await mcp.ok<StatusOutput>("status")).structured.sources).toBe(4);
  });

  describe("with a small output budget", () => {
    let small: MragContext;
    let smallConn: InMemoryConnection;
    let smallMcp: Caller;
    const budgetChars = 500 * 4;
    beforeAll(async () => {
      small = contextOn(ws, { "server.maxOutputTokens": 500 });
      smallConn = await connectInMemory(small);
      smallMcp = new Caller(smallConn.client);
      await smallMcp.listTools();
    });
    afterAll(async () => {
      await smallConn?.close();
      await small?.close();
    });

    it("search with k 20 is truncated with a note pointing to read and a smaller k", async () => {
      const { structured, text } = await smallMcp.ok<SearchOutput>("search", { query: QUESTION, k: 20 });
      expect(structured.truncated).toBe(true);
      expect(structured.hits.length).toBeLessThan(20);
      expect(structured.hits.length).toBeGreaterThan(0);
      expect(structured.note).toMatch(/`read`/);
      expect(structured.note).toMatch(/smaller k/);
      expect(JSON.stringify(structured).length + text.length).toBeLessThanOrEqual(budgetChars * 1.25);
    });

    it("read of many ids is truncated and says which ids to read next", async () => {
      const { structured: all } = await mcp.ok<SearchOutput>("search", { query: "milvus", k: 20, snippet_chars: 0 });
      const ids = all.hits.map((h) => h.id);
      expect(ids.length).toBe(20);
      const { structured, text } = await smallMcp.ok<ReadOutput>("read", { ids });
      expect(structured.truncated).toBe(true);
      expect(structured.chunks.length).toBeLessThan(20);
      expect(structured.note).toMatch(/Not returned: .*read them in another call/);
      expect(JSON.stringify(structured).length + text.length).toBeLessThanOrEqual(budgetChars * 1.25);
    });

    it("read of a source stops within the budget and says where to continue", async () => {
      const { structured, text } = await smallMcp.ok<ReadOutput>("read", { source: "docs/product_faq.md" });
      expect(structured.truncated).toBe(true);
      expect(structured.source?.nextLineStart).toBe((structured.source?.lineEnd ?? 0) + 1);
      expect(structured.note).toMatch(/Continue with line_start \d+/);
      expect(JSON.stringify(structured).length + text.length).toBeLessThanOrEqual(budgetChars * 1.25);
    });
  });

  describe("read-only", () => {
    let ro: MragContext;
    let roConn: InMemoryConnection;
    let roMcp: Caller;
    beforeAll(async () => {
      ro = contextOn(ws, { "server.readOnly": true });
      roConn = await connectInMemory(ro);
      roMcp = new Caller(roConn.client);
    });
    afterAll(async () => {
      await roConn?.close();
      await ro?.close();
    });

    it("hides ingest and delete_source and refuses them by name", async () => {
      const tools = await roMcp.listTools();
      expect(tools.map((t) => t.name)).toEqual(["search", "read", "list_sources", "status"]);
      for (const [name, args] of [
        ["ingest", { paths: ["docs"] }],
        ["delete_source", { source: "docs/product_faq.md" }],
      ] as const) {
        // A hidden tool is not offered: a JSON-RPC error (-32602) saying why, not a tool result.
        await expect(roConn.client.callTool({ name, arguments: args })).rejects.toMatchObject({
          code: -32602,
          message: expect.stringMatching(/^MCP error -32602: tool "\w+" is disabled: this server runs read-only/),
        });
      }
      const { structured } = await roMcp.ok<StatusOutput>("status");
      expect(structured).toMatchObject({ readOnly: true, sources: 4 });
      expect((await roMcp.ok<SearchOutput>("search", { query: QUESTION, k: 1 })).structured.hits.length).toBe(1);
    });
  });
});

describe("allowed roots", () => {
  let ws: Workspace;
  let conn: InMemoryConnection;
  let mcp: Caller;
  beforeAll(async () => {
    ws = makeWorkspace({ copyFaq: false, flags: { "server.allowRoots": ["allowed"] } });
    mkdirSync(path.join(ws.dir, "allowed"));
    mkdirSync(path.join(ws.dir, "outside"));
    writeFileSync(
      path.join(ws.dir, "allowed", "inside.md"),
      "# Inside\n\nThe allowed folder holds the quokka notes.\n",
    );
    writeFileSync(
      path.join(ws.dir, "outside", "secret.md"),
      "# Secret\n\nThe outside folder holds the wombat codes.\n",
    );
    symlinkSync(path.join(ws.dir, "outside", "secret.md"), path.join(ws.dir, "allowed", "link.md"));
    symlinkSync(path.join(ws.dir, "outside"), path.join(ws.dir, "allowed", "linkdir"));
    conn = await connectInMemory(ws.context);
    mcp = new Caller(conn.client);
    await mcp.listTools();
  });
  afterAll(async () => {
    await conn?.close();
    await ws?.cleanup();
  });

  it("ingests inside the root and refuses paths outside it, also through symlinks", async () => {
    const { structured } = await mcp.ok<IngestOutput>("ingest", { paths: ["allowed/inside.md"] });
    expect(structured.added).toEqual(["allowed/inside.md"]);
    for (const p of ["outside", "outside/secret.md", "allowed/link.md", "allowed/linkdir", "."]) {
      expect(await mcp.fails("ingest", { paths: [p] }), p).toMatch(/paths\[0\]: .* is outside the allowed roots/);
    }
    // Walking the root does not follow the links out of it either.
    const folder = await mcp.ok<IngestOutput>("ingest", { paths: ["allowed"] });
    expect([...folder.structured.added, ...folder.structured.unchanged]).toEqual(["allowed/inside.md"]);
    const { structured: found } = await mcp.ok<SearchOutput>("search", { query: "wombat codes", mode: "keyword" });
    expect(found.hits).toEqual([]);
  });
});

/** 300 Markdown files of ~6 KB (12 sections each): an ingest long enough to interrupt after a few commits. */
const FILES = 300;
function writeCorpus(dir: string): void {
  mkdirSync(dir);
  const words = ["vector", "index", "segment", "replica", "shard", "query", "node", "collection", "partition"];
  for (let i = 0; i < FILES; i++) {
    const sections = Array.from({ length: 12 }, (_, s) => {
      const body = Array.from({ length: 70 }, (_, w) => words[(i * 7 + s * 3 + w * w) % words.length]).join(" ");
      return `## Topic ${i}.${s}\n\nDocument ${i} section ${s}: ${body}.\n`;
    });
    writeFileSync(path.join(dir, `doc-${String(i).padStart(3, "0")}.md`), `# Document ${i}\n\n${sections.join("\n")}`);
  }
}

describe("a client cancelling an ingest", () => {
  let ws: Workspace;
  beforeAll(() => {
    ws = makeWorkspace({ copyFaq: false, flags: { lockWaitMs: 0 } });
    writeCorpus(path.join(ws.dir, "corpus"));
  });
  afterAll(async () => {
    await ws?.cleanup();
  });

  it("stops between commits, releases the write lock, and the session goes on", async () => {
    const conn = await connectInMemory(ws.context);
    try {
      const mcp = new Caller(conn.client);
      await mcp.listTools();
      const controller = new AbortController();
      const call = conn.client.callTool({ name: "ingest", arguments: { paths: ["corpus"] } }, undefined, {
        signal: controller.signal,
        onprogress: (p) => {
          if (p.progress >= 100) controller.abort("enough");
        },
      });
      await expect(call).rejects.toThrow(/enough|abort/i);
      await conn.mcp.idle();

      // lockWaitMs 0: a lock still held would make this ingest fail at once.
      const status = await mcp.ok<StatusOutput>("status");
      expect(status.structured.sources).toBeGreaterThan(0);
      expect(status.structured.sources).toBeLessThan(FILES);
      const { structured } = await mcp.ok<IngestOutput>("ingest", { paths: ["corpus"] });
      expect(structured.counts.unchanged).toBe(status.structured.sources);
      expect(structured.counts.added).toBe(FILES - status.structured.sources);
    } finally {
      await conn.close();
    }
  });
});

describe("a client disconnecting mid-ingest", () => {
  let ws: Workspace;
  beforeAll(() => {
    ws = makeWorkspace({ copyFaq: false });
    writeCorpus(path.join(ws.dir, "corpus"));
  });
  afterAll(async () => {
    await ws?.cleanup();
  });

  it("leaves a consistent store that a new session can finish ingesting", async () => {
    const first = await connectInMemory(ws.context);
    const mcp = new Caller(first.client);
    await mcp.listTools();
    let disconnected: Promise<void> | undefined;
    const call = mcp
      .raw("ingest", { paths: ["corpus"] }, (p) => {
        // Past a few committed batches (512 chunks, about 43 files each), so the cut lands mid-write.
        if (p.progress >= 100) disconnected ??= first.clientTransport.close();
      })
      .then(
        () => "finished",
        (error: Error) => error.message,
      );
    expect(await call).toMatch(/Connection closed/);
    await disconnected;
    await first.mcp.idle();

    const second = await connectInMemory(ws.context);
    try {
      const again = new Caller(second.client);
      await again.listTools();
      const listed = await again.ok<ListSourcesOutput>("list_sources", { limit: 1000 });
      const status = await again.ok<StatusOutput>("status");
      const names = listed.structured.sources.map((s) => s.source);
      expect(listed.structured.nextCursor).toBeUndefined();
      expect(listed.structured.total).toBe(status.structured.sources);
      expect(new Set(names).size).toBe(names.length);
      expect(names.length).toBeGreaterThan(0);
      expect(names.length).toBeLessThan(FILES);
      expect(status.structured.chunks).toBe(listed.structured.sources.reduce((n, s) => n + s.chunks, 0));

      const { structured } = await again.ok<IngestOutput>("ingest", { paths: ["corpus"] });
      expect(structured.counts.added + structured.counts.unchanged).toBe(FILES);
      expect(structured.counts.unchanged).toBe(names.length);
      const after = await again.ok<StatusOutput>("status");
      expect(after.structured.sources).toBe(FILES);
      const { structured: found } = await again.ok<SearchOutput>("search", { query: "Document 123 section 4", k: 3 });
      expect(found.hits.length).toBe(3);
    } finally {
      await second.close();
    }
  });
});
