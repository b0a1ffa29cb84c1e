import { mkdirSync, writeFileSync } from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { DeleteSourceOutput } from "../../src/tools/delete-source.js";
import { runIngest } from "../../src/tools/ingest.js";
import { runMrag } from "../helpers/cli.js";
import { connectInMemory, type InMemoryConnection } from "../helpers/mcp.js";
import { makeWorkspace, type Workspace } from "../helpers/workspace.js";

/** docs/old/*, docs/old-keep/* and 25 files under docs/many/. */
function writeTree(ws: Workspace): void {
  for (const [folder, count] of [
    ["old", 2],
    ["old-keep", 2],
    ["many", 25],
  ] as const) {
    mkdirSync(path.join(ws.docs, folder), { recursive: true });
    for (let i = 0; i < count; i++) {
      writeFileSync(path.join(ws.docs, folder, `note-${i}.md`), `# ${folder} ${i}\n\nText of ${folder} note ${i}.\n`);
    }
  }
}

const sourcesOf = async (ws: Workspace) =>
  (await (await ws.context.collection({ create: false })).listSources()).map((s) => s.source);

describe("mrag delete: whole path segments, dry runs and confirmations", () => {
  let ws: Workspace;
  const run = (...args: string[]) => runMrag(args, { cwd: ws.dir, env: { MRAG_STORE: ws.storeDir } });

  beforeAll(async () => {
    ws = makeWorkspace({ copyFaq: false });
    writeTree(ws);
    await runIngest(ws.context, { inputs: [ws.docs] });
  }, 60_000);
  afterAll(async () => ws?.cleanup());

  it("--dry-run lists what a path prefix would take and deletes nothing", async () => {
    const r = await run("delete", "docs/old", "--dry-run");
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain("would remove 2 source(s)");
    expect(r.stdout).toContain("docs/old/note-0.md");
    expect(r.stdout).not.toContain("old-keep");
    expect(await sourcesOf(ws)).toHaveLength(29);
  });

  it("docs/old deletes docs/old/ but never docs/old-keep/", async () => {
    const r = await run("delete", "docs/old", "--json");
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout).removed).toEqual(["docs/old/note-0.md", "docs/old/note-1.md"]);
    const left = await sourcesOf(ws);
    expect(left).toContain("docs/old-keep/note-0.md");
    expect(left).toHaveLength(27);
  });

  it("a delete of more than 20 sources without a terminal needs --yes", async () => {
    const refused = await run("delete", "docs/many/");
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/delete 25 source\(s\).*--yes/);
    expect(await sourcesOf(ws)).toHaveLength(27);
    const done = await run("delete", "docs/many/", "--yes");
    expect(done.code, done.stderr).toBe(0);
    expect(done.stdout).toMatch(/removed 25 source/);
  });
});

describe("delete_source over MCP follows the same rules", () => {
  let ws: Workspace;
  let conn: InMemoryConnection;
  const call = async (args: Record<string, unknown>) => {
    const r = await conn.client.callTool({ name: "delete_source", arguments: args });
    const text = (r.content as { text: string }[])[0]?.text ?? "";
    return { isError: r.isError === true, text, structured: r.structuredContent as DeleteSourceOutput | undefined };
  };

  beforeAll(async () => {
    ws = makeWorkspace({ copyFaq: false });
    writeTree(ws);
    await runIngest(ws.context, { inputs: [ws.docs] });
    conn = await connectInMemory(ws.context);
  }, 60_000);
  afterAll(async () => {
    await conn?.close();
    await ws?.cleanup();
  });

  it("dry_run reports what would go and keeps it", async () => {
    const r = await call({ prefix: "docs/old", dry_run: true });
    expect(r.isError).toBe(false);
    expect(r.structured).toMatchObject({ dryRun: true, sourceCount: 2 });
    expect(r.text).toMatch(/Would delete 2 source/);
    expect(await sourcesOf(ws)).toHaveLength(29);
  });

  it("a prefix matches whole segments; a bare string needs string_prefix, and the miss says so", async () => {
    const miss = await call({ prefix: "docs/ol" });
    expect(miss.structured?.sourceCount).toBe(0);
    expect(miss.text).toMatch(/4 source\(s\) start with "docs\/ol".*string_prefix: true/);
    const r = await call({ prefix: "docs/old" });
    expect(r.structured?.deletedSources).toEqual(["docs/old/note-0.md", "docs/old/note-1.md"]);
    expect(await sourcesOf(ws)).toContain("docs/old-keep/note-1.md");
    const loose = await call({ prefix: "docs/old-", string_prefix: true });
    expect(loose.structured?.sourceCount).toBe(2);
  });

  it("more than 20 sources need confirm: true", async () => {
    const refused = await call({ prefix: "docs/many" });
    expect(refused.isError).toBe(true);
    expect(refused.text).toMatch(/confirm: this would delete 25 sources.*confirm: true/);
    const done = await call({ prefix: "docs/many", confirm: true });
    expect(done.structured?.sourceCount).toBe(25);
    expect(await sourcesOf(ws)).toEqual([]);
  });
});
