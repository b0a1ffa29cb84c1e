import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readBuiltinManifest } from "../../src/embed/builtin.js";
import { openEmbeddedStore } from "../../src/store/embedded/store.js";
import { runMrag } from "../helpers/cli.js";
import { makeWorkspace, type Workspace } from "../helpers/workspace.js";
import { makeSource } from "../store-contract/fixtures.js";

/** A collection built by an earlier version of the builtin model: refused with the way out, which works. */
describe("mrag after a builtin model upgrade", () => {
  let ws: Workspace;
  const run = (...args: string[]) => runMrag(args, { cwd: ws.dir, env: { MRAG_STORE: ws.storeDir } });
  const manifest = readBuiltinManifest();
  const current = `builtin:${manifest.name}@${manifest.version}`;
  const earlier = `builtin:${manifest.name}@0`;

  beforeAll(async () => {
    ws = makeWorkspace();
    const store = await openEmbeddedStore(ws.storeDir);
    const old = await store.openCollection("mrag", {
      modelId: earlier,
      dimension: manifest.dimension,
      create: true,
    });
    await old.replaceSources([{ source: "old.md", chunks: makeSource("old.md", 2, manifest.dimension) }]);
    await store.close();
  });
  afterAll(async () => {
    await ws.cleanup();
  });

  it("search says to re-index; delete --all empties the old collection; ingest then search work", async () => {
    const refused = await run("search", "where is data stored");
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toContain(`${earlier} is an earlier version of the builtin model`);
    expect(refused.stderr).toContain(current);
    expect(refused.stderr).toMatch(/mrag delete --all.*mrag ingest/);
    const emptied = await run("delete", "--all", "--yes", "--json");
    expect(emptied.code, emptied.stderr).toBe(0);
    expect(JSON.parse(emptied.stdout).removed).toEqual(["old.md"]);
    const ingested = await run("ingest", "docs");
    expect(ingested.code, ingested.stderr).toBe(0);
    const found = await run("search", "where does milvus store data", "--json");
    expect(found.code, found.stderr).toBe(0);
    expect((JSON.parse(found.stdout) as { hits: unknown[] }).hits.length).toBeGreaterThan(0);
    const stats = JSON.parse((await run("stats", "--json")).stdout) as { model?: string; modelId?: string };
    expect(JSON.stringify(stats)).toContain(current);
  });
});
