import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { z } from "zod";
import { runIngest } from "../../src/tools/ingest.js";
import { TOOLS } from "../../src/tools/registry.js";
import { closestKey } from "../../src/tools/validation.js";
import { connectInMemory, type InMemoryConnection } from "../helpers/mcp.js";
import { makeWorkspace, type Workspace } from "../helpers/workspace.js";

/** The least each tool needs; every other input of the tool is sent as null. */
const REQUIRED: Record<string, Record<string, unknown>> = {
  search: { query: "Where does Milvus store data?" },
  read: { source: "docs/product_faq.md" },
  list_sources: {},
  status: {},
  ingest: { texts: [{ source: "notes/n.md", text: "# N\n\nA note." }] },
  delete_source: { source: "inline:notes/n.md" },
};

const keysOf = (schema: z.ZodObject) => Object.keys(schema.shape);

describe("tool arguments as LLM clients send them", () => {
  let ws: Workspace;
  let conn: InMemoryConnection;
  const call = async (name: string, args: Record<string, unknown>) => {
    const r = await conn.client.callTool({ name, arguments: args });
    return { isError: r.isError === true, text: (r.content as { text: string }[])[0]?.text ?? "" };
  };

  beforeAll(async () => {
    ws = makeWorkspace();
    await runIngest(ws.context, { inputs: [ws.docs] });
    conn = await connectInMemory(ws.context);
  }, 60_000);
  afterAll(async () => {
    await conn?.close();
    await ws?.cleanup();
  });

  it("covers every tool in the registry", () => {
    expect(TOOLS.map((t) => t.name).sort()).toEqual(Object.keys(REQUIRED).sort());
  });

  for (const tool of TOOLS) {
    it(`${tool.name}: null for every optional input means "not given"`, async () => {
      const required = REQUIRED[tool.name] ?? {};
      const args: Record<string, unknown> = { ...required };
      for (const key of keysOf(tool.input)) if (!(key in args)) args[key] = null;
      if (keysOf(tool.input).length > Object.keys(required).length) expect(Object.values(args)).toContain(null);
      const r = await call(tool.name, args);
      expect(r.isError, r.text).toBe(false);
    });
  }

  it("nulls inside a nested object are dropped too; a null for a required input is refused by name", async () => {
    const nested = await call("search", {
      query: "etcd",
      k: null,
      filter: { sourcePrefix: null, tags: null, fileTypes: ["markdown"] },
    });
    expect(nested.isError, nested.text).toBe(false);
    const required = await call("search", { query: null });
    expect(required.isError).toBe(true);
    expect(required.text).toMatch(/query:/);
  });

  it("an unknown key is still refused, naming the closest known key and the known ones", async () => {
    const r = await call("search", { query: "etcd", top_k: 5 });
    expect(r.isError).toBe(true);
    expect(r.text).toContain(
      'unknown key(s) "top_k" (did you mean "k"?); remove or rename them (known keys: query, k, mode, filter',
    );
    const nested = await call("search", { query: "etcd", filter: { source_prefix: "docs/" } });
    expect(nested.text).toContain('filter: unknown key(s) "source_prefix" (did you mean "sourcePrefix"?)');
  });

  it("closestKey prefers few edits, ignoring case, _ and -", () => {
    expect(closestKey("snippetChars", ["query", "k", "snippet_chars"])).toBe("snippet_chars");
    expect(closestKey("moed", ["query", "k", "mode"])).toBe("mode");
    expect(closestKey("line_strat", ["ids", "line_start", "line_end"])).toBe("line_start");
  });
});
