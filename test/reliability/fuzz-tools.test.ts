import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { type CallToolResult, CallToolResultSchema, type Tool } from "@modelcontextprotocol/sdk/types.js";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadConfig } from "../../src/config/index.js";
import { createLogger } from "../../src/log.js";
import { createContext, type MragContext } from "../../src/tools/context.js";
import { findTool, TOOLS } from "../../src/tools/registry.js";
import { connectInMemory, type InMemoryConnection } from "../helpers/mcp.js";
import { type Hints, hostileJson, hostileString, type JsonSchema, objectFor } from "./hostile-helpers.js";

/**
 * Property-based fuzzing of every registered tool through a real SDK client, mrag's MCP server, a real embedded
 * store and the builtin embedder. Whatever the arguments, each call must come back (well within a deadline) as a
 * CallToolResult: a result that matches the tool's output schema, or `isError` with a one-line, typed message
 * (never "unexpected error", never a stack trace); the handlers must not throw untyped errors at all (callTool
 * logs those); and the server must still list its tools and search afterwards.
 *
 * Reproduce a failure with the seed fast-check prints: MRAG_FUZZ_SEED=<seed> vitest run test/reliability/fuzz-tools.test.ts
 */

const SEED = Number(process.env.MRAG_FUZZ_SEED ?? 20_261_129);
/** A hang detector, not a speed check: the slowest legitimate call here (an ingest of a few texts) takes ~1 s. */
const CALL_DEADLINE_MS = 30_000;
const RUNS: Record<string, number> = {
  search: 300,
  read: 300,
  list_sources: 150,
  status: 30,
  ingest: 80,
  delete_source: 80,
};
const DEFAULT_RUNS = 100;

const DOCS: Record<string, string> = {
  "storage.md":
    "# Vector storage\n\nMilvus keeps vectors in sealed segments on object storage.\n\n## Indexes\n\nHNSW and IVF indexes speed up search.\n",
  "ops.md": "# Operations\n\nBack up the etcd metadata before an upgrade. Compaction merges small segments.\n",
  "notes.txt": "Plain text notes: the flux capacitor needs 1.21 gigawatts.\n",
};

let dir = "";
let context: MragContext;
let conn: InMemoryConnection;
let listed: Tool[] = [];
const errorLogs: string[] = [];
let hints: Hints = {};
/** Whole valid argument objects for tools whose fields depend on each other (read: ids xor source). */
let VALID: Record<string, () => fc.Arbitrary<Record<string, unknown>>> = {};
const answered: Record<string, { ok: number; error: number }> = {};

function structured<T>(result: CallToolResult): T {
  expect(result.isError ?? false, JSON.stringify(result.content)).toBe(false);
  return result.structuredContent as T;
}

async function call(name: string, args: unknown): Promise<CallToolResult> {
  const result = await conn.client.callTool(
    { name, arguments: args as Record<string, unknown> },
    CallToolResultSchema,
    { timeout: CALL_DEADLINE_MS },
  );
  return result as CallToolResult;
}

/** The properties every answer must have, for any arguments. */
function checkAnswer(name: string, result: unknown): void {
  const parsed = CallToolResultSchema.safeParse(result);
  expect(parsed.success, `not a CallToolResult: ${JSON.stringify(result)?.slice(0, 300)}`).toBe(true);
  const r = result as CallToolResult;
  if (r.isError) {
    const first = r.content[0];
    expect(first?.type).toBe("text");
    const text = first?.type === "text" ? first.text : "";
    expect(text.trim().length).toBeGreaterThan(0);
    expect(text).not.toMatch(/\n\s+at |\bat .+:\d+:\d+\)?$/m);
    // describeError says "unexpected error" for anything but mrag's typed errors; callTool says "internal
    // error" when a handler's result breaks its own schema. Hostile input must get neither.
    expect(text).not.toMatch(/^unexpected error|internal error/);
    return;
  }
  const tool = findTool(name);
  expect(tool, `result from a tool the registry does not have: ${name}`).toBeDefined();
  expect(r.structuredContent).toBeDefined();
  expect(tool?.output.safeParse(r.structuredContent).success).toBe(true);
}

/** Real clients serialise arguments; keep what JSON cannot carry (too deep to stringify) as is. */
function overTheWire(value: unknown): unknown {
  try {
    const text = JSON.stringify(value);
    return text === undefined ? value : JSON.parse(text);
  } catch {
    return value;
  }
}

/** No network in tests: any http(s) URL that is not loopback becomes one (the SSRF guard refuses it offline). */
function offline(args: unknown): unknown {
  if (typeof args !== "object" || args === null || !Array.isArray((args as { urls?: unknown }).urls)) return args;
  const urls = (args as { urls: unknown[] }).urls.map((u) => {
    if (typeof u !== "string") return u;
    try {
      const url = new URL(u.trim());
      const loopback = url.hostname === "127.0.0.1" || url.hostname === "localhost" || url.hostname === "[::1]";
      return /^https?:$/.test(url.protocol) && !loopback ? "http://127.0.0.1:9/x" : u;
    } catch {
      return u;
    }
  });
  return Object.fromEntries([...Object.entries(args), ["urls", urls]]);
}

const fuzzOptions = (numRuns: number) => ({ seed: SEED, numRuns, endOnFailure: true, interruptAfterTimeLimit: 40_000 });

beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), "mrag-fuzz-"));
  mkdirSync(path.join(dir, "docs"));
  for (const [name, text] of Object.entries(DOCS)) writeFileSync(path.join(dir, "docs", name), text);
  const { config } = loadConfig({ cwd: dir, env: {}, flags: { store: path.join(dir, "store") } });
  const logger = createLogger("error", (line) => errorLogs.push(line));
  context = createContext(config, { cwd: dir, logger });
  conn = await connectInMemory(context);
  listed = (await conn.client.listTools()).tools;

  structured(await call("ingest", { paths: ["docs"] }));
  const hits = structured<{ hits: { id: string; source: string }[] }>(
    await call("search", { query: "milvus segments", k: 10 }),
  ).hits;
  const page = structured<{ nextCursor?: string }>(await call("list_sources", { limit: 1 }));
  expect(hits.length).toBeGreaterThan(0);
  expect(page.nextCursor).toBeDefined();
  const ids = [...new Set(hits.map((h) => h.id))];
  const sources = [...new Set(hits.map((h) => h.source))];
  // Known-good values by property name, so that many calls get past validation into the handlers.
  hints = {
    query: fc.constantFrom(
      "milvus segments",
      "flux capacitor",
      "HNSW",
      "etcd backup",
      "segments OR 1=1",
      '"quoted" -x',
    ),
    ids: fc.constantFrom(...ids, `${ids[0]}x`, ids[0]!.toUpperCase()),
    source: fc.constantFrom(...sources, `${sources[0]}/`, "inline:fuzz.md"),
    prefix: fc.constantFrom(path.join(dir, "docs", "zz-none"), "inline:fuzz", "https://", sources[0]!.slice(0, 5)),
    sourcePrefix: fc.constantFrom(path.join(dir, "docs"), "docs/", "%", "_"),
    cursor: fc.constantFrom(page.nextCursor!, `${page.nextCursor}x`, Buffer.from('{"after":1}').toString("base64url")),
    paths: fc.constantFrom("docs", "docs/storage.md", ".", "/", "/etc/passwd", "../..", "docs/../..", "nope.md", dir),
    urls: fc.constantFrom(
      "http://127.0.0.1:9/x",
      "http://localhost/",
      "http://[::1]/",
      "ftp://x/",
      "http://169.254.169.254/",
    ),
    text: fc.oneof(fc.constantFrom("# Fuzz\n\nfuzzed text about segments\n", "plain words"), hostileString(200)),
    tags: fc.constantFrom("a", "fuzz", "__proto__", "x".repeat(128)),
    line_start: fc.integer({ min: 1, max: 30 }),
    line_end: fc.integer({ min: 1, max: 30 }),
  };
  const h = hints;
  VALID = {
    read: () =>
      fc.oneof(
        fc.record(
          {
            ids: fc.array(fc.constantFrom(...ids), { minLength: 1, maxLength: 20 }),
            before: fc.nat(10),
            after: fc.nat(10),
          },
          { requiredKeys: ["ids"] },
        ),
        fc.record(
          { source: fc.constantFrom(...sources), line_start: fc.integer({ min: 1, max: 12 }) },
          { requiredKeys: ["source"] },
        ),
      ),
    ingest: () =>
      fc.record(
        {
          texts: fc.array(
            fc.record({
              source: fc.oneof(
                fc.constantFrom("fuzz.md", "fuzz.html", "fuzz.pdf", "fuzz.json", "x/../y.txt", "inline:z"),
                hostileString(30),
              ),
              text: h.text!,
            }),
            { minLength: 1, maxLength: 3 },
          ),
          paths: fc.array(fc.constantFrom("docs", "docs/storage.md", ".", dir), { minLength: 1, maxLength: 2 }),
          tags: fc.array(h.tags!, { maxLength: 3 }),
          force: fc.boolean(),
        },
        { requiredKeys: ["texts"] },
      ),
    delete_source: () =>
      fc.oneof(
        fc.record({ source: fc.oneof(h.source!, hostileString(40)) }),
        fc.record({ prefix: fc.oneof(h.prefix!, hostileString(40)) }),
      ),
  };
}, 120_000);

afterAll(async () => {
  if (process.env.MRAG_FUZZ_STATS) console.error(JSON.stringify(answered));
  await conn?.close();
  await context?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe("every tool answers hostile arguments with a result or a typed isError", () => {
  it("covers every registered tool", () => {
    expect(listed.map((t) => t.name).sort()).toEqual(TOOLS.map((t) => t.name).sort());
  });

  // delete_source last: it may remove the corpus the other properties search.
  const order = [...TOOLS.map((t) => t.name)].sort(
    (a, b) => Number(a === "delete_source") - Number(b === "delete_source"),
  );
  for (const name of order) {
    it(`${name}: schema-shaped arguments (valid, near valid, hostile)`, async () => {
      const schema = listed.find((t) => t.name === name)?.inputSchema as JsonSchema;
      const count = { ok: 0, error: 0 };
      answered[name] = count;
      const logged = errorLogs.length;
      const shaped = objectFor(schema, hints);
      const valid = VALID[name];
      const args = valid ? fc.oneof({ weight: 1, arbitrary: shaped }, { weight: 2, arbitrary: valid() }) : shaped;
      await fc.assert(
        fc.asyncProperty(args, async (args) => {
          const result = await call(name, offline(overTheWire(args)));
          checkAnswer(name, result);
          count[result.isError ? "error" : "ok"]++;
        }),
        fuzzOptions(RUNS[name] ?? DEFAULT_RUNS),
      );
      expect(errorLogs.slice(logged)).toEqual([]);
      // A generator that only ever trips validation would prove nothing about the handlers.
      expect(count.ok, JSON.stringify(count)).toBeGreaterThanOrEqual(Math.ceil((RUNS[name] ?? DEFAULT_RUNS) / 10));
    }, 120_000);

    it(`${name}: arbitrary JSON arguments`, async () => {
      const logged = errorLogs.length;
      await fc.assert(
        fc.asyncProperty(hostileJson(), async (args) => {
          const wire = offline(overTheWire(args));
          if (typeof wire === "object" && wire !== null && !Array.isArray(wire)) {
            checkAnswer(name, await call(name, wire));
            return;
          }
          // Not an object: the SDK refuses it as invalid params before mrag sees it. Either way, an answer.
          try {
            checkAnswer(name, await call(name, wire));
          } catch (error) {
            expect(String((error as Error).message)).toMatch(/Invalid|invalid|expected/);
            expect(String((error as Error).message)).not.toMatch(/\n\s+at /);
          }
        }),
        fuzzOptions(100),
      );
      expect(errorLogs.slice(logged)).toEqual([]);
    }, 120_000);
  }

  it("refuses NUL in a value that reaches a store filter as a usage error naming the field", async () => {
    // Found by this fuzzing: the store's filter builder threw a RangeError ("unexpected error" for search, "reading
    // a source ... failed" for the others), blaming the store for the caller's argument.
    const cases: [string, Record<string, unknown>, string][] = [
      ["search", { query: "milvus", filter: { sourcePrefix: "docs\u0000" } }, "filter.sourcePrefix"],
      ["search", { query: "milvus", filter: { tags: ["a", "b\u0000"] } }, "filter.tags[1]"],
      ["read", { source: "docs/ops.md\u0000" }, "source"],
      ["read", { ids: ["ab\u0000"] }, "ids[0]"],
      ["list_sources", { prefix: "docs\u0000" }, "prefix"],
      ["delete_source", { source: "docs/ops.md\u0000" }, "source"],
      ["delete_source", { prefix: "docs\u0000" }, "prefix"],
      ["ingest", { texts: [{ source: "t.md", text: "# T\n\nx" }], tags: ["a\u0000"] }, "tags[0]"],
    ];
    for (const [name, args, field] of cases) {
      const result = await call(name, args);
      checkAnswer(name, result);
      const text = result.content[0]?.type === "text" ? result.content[0].text : "";
      expect(result.isError, `${name} ${JSON.stringify(args)}`).toBe(true);
      expect(text).toContain(`invalid ${name} arguments: ${field}:`);
      expect(text).toContain("NUL");
    }
  });

  it("answers unknown tool names with a JSON-RPC error -32602 (a protocol error, not a tool result)", async () => {
    await fc.assert(
      fc.asyncProperty(
        hostileString(40).filter((n) => !findTool(n)),
        objectFor({ type: "object", properties: {} }, {}),
        async (name, args) => {
          const error = await call(name, args).then(
            () => undefined,
            (e: unknown) => e as { code?: number; message?: string },
          );
          expect(error?.code, name).toBe(-32602);
          expect(error?.message?.match(/MCP error/g), name).toHaveLength(1);
        },
      ),
      fuzzOptions(50),
    );
  });

  it("still lists its tools and searches after the fuzzing", async () => {
    expect((await conn.client.listTools()).tools.map((t) => t.name).sort()).toEqual(TOOLS.map((t) => t.name).sort());
    structured(await call("ingest", { paths: ["docs"] }));
    const hits = structured<{ hits: { source: string }[] }>(
      await call("search", { query: "flux capacitor gigawatts" }),
    ).hits;
    expect(hits[0]?.source).toMatch(/notes\.txt$/);
    expect(errorLogs).toEqual([]);
  });
});
