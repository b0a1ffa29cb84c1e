import { existsSync } from "node:fs";
import { mkdir, mkdtemp, readdir, readFile, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { isAbsolute, join, relative } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { ModelMismatchError, StoreError } from "../../src/errors.js";
import { DB_DIR, MARKER_FILE, STORE_FORMAT, STORE_FORMAT_VERSION } from "../../src/store/embedded/marker.js";
import { openEmbeddedStore } from "../../src/store/embedded/store.js";
import { makeSource, vectorFor } from "../store-contract/fixtures.js";
import { removeDir } from "./embedded-helpers.js";

const DIM = 16;
const MODEL = "test:model-a@1";
let dir: string;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "mrag-folder-"));
});
afterEach(async () => {
  await removeDir(dir);
});

describe("embedded store folder", () => {
  it("opening a missing folder writes nothing; readers get a clear error; the first write creates it", async () => {
    const folder = join(dir, "nested", "data");
    const store = await openEmbeddedStore(folder);
    expect(store.location).toBe(folder);
    expect(await store.listCollections()).toEqual([]);
    const error = await store
      .openCollection("docs", { modelId: MODEL, dimension: DIM, create: false })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(StoreError);
    expect((error as Error).message).toBe(
      `no store at ${folder}; nothing has been ingested yet: ingest first (\`mrag ingest <path>\` or the MCP ingest tool), or pass the right --store folder`,
    );
    expect(existsSync(join(dir, "nested"))).toBe(false);

    const before = Date.now();
    const collection = await store.openCollection("docs", { modelId: MODEL, dimension: DIM, create: true });
    await collection.replaceSources([{ source: "a.md", chunks: makeSource("a.md", 2, DIM) }]);
    expect((await readdir(folder)).sort()).toEqual([DB_DIR, MARKER_FILE]);
    const marker = JSON.parse(await readFile(join(folder, MARKER_FILE), "utf8"));
    expect(marker).toMatchObject({
      format: STORE_FORMAT,
      version: STORE_FORMAT_VERSION,
      collections: { docs: { modelId: MODEL, dimension: DIM } },
    });
    expect(marker.collections.docs.createdAt).toBeGreaterThanOrEqual(before - 1000);
    await store.close();
  });

  it("an empty existing folder is accepted and initialised on first write", async () => {
    const folder = join(dir, "empty");
    await mkdir(folder);
    const store = await openEmbeddedStore(folder);
    await store.openCollection("docs", { modelId: MODEL, dimension: DIM, create: true });
    expect(existsSync(join(folder, MARKER_FILE))).toBe(true);
    await store.close();
  });

  it("refuses a non-empty folder that is not an mrag store, without touching it", async () => {
    const folder = join(dir, "project");
    await mkdir(folder);
    await writeFile(join(folder, "README.md"), "# not a store\n");
    const error = await openEmbeddedStore(folder).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(StoreError);
    const message = (error as Error).message;
    expect(message).toContain(`${folder} is not an mrag store`);
    expect(message).toContain("README.md");
    expect(message).toContain("--store");
    expect(await readdir(folder)).toEqual(["README.md"]);
  });

  it("refuses a path that is a file, or inside a file", async () => {
    const file = join(dir, "file.txt");
    await writeFile(file, "x");
    await expect(openEmbeddedStore(file)).rejects.toThrow(/is a file, not a folder/);
    await expect(openEmbeddedStore(join(file, "sub"))).rejects.toBeInstanceOf(StoreError);
  });

  it("refuses a marker from a newer mrag and a corrupt marker", async () => {
    const newer = join(dir, "newer");
    await mkdir(newer);
    await writeFile(join(newer, MARKER_FILE), JSON.stringify({ format: STORE_FORMAT, version: 99, collections: {} }));
    const store = await openEmbeddedStore(newer);
    await expect(store.listCollections()).rejects.toThrow(/format version 99, newer than this mrag/);
    const corrupt = join(dir, "corrupt");
    await mkdir(corrupt);
    await writeFile(join(corrupt, MARKER_FILE), "{ not json");
    const other = await openEmbeddedStore(corrupt);
    await expect(other.listCollections()).rejects.toThrow(/not a valid mrag store marker/);
  });

  it("turns a relative path into an absolute one", async () => {
    const rel = relative(process.cwd(), join(dir, "rel"));
    const store = await openEmbeddedStore(rel);
    expect(isAbsolute(store.location)).toBe(true);
    expect(store.location).toBe(join(dir, "rel"));
  });

  it("data and metadata persist across store instances, and another open instance sees new writes", async () => {
    const folder = join(dir, "persist");
    const writer = await openEmbeddedStore(folder);
    const wc = await writer.openCollection("docs", { modelId: MODEL, dimension: DIM, create: true });
    await wc.replaceSources([{ source: "a.md", chunks: makeSource("a.md", 3, DIM) }]);
    const reader = await openEmbeddedStore(folder);
    const rc = await reader.openCollection("docs", { modelId: MODEL, dimension: DIM, create: false });
    expect((await rc.getSource("a.md")).length).toBe(3);
    await wc.replaceSources([{ source: "b.md", chunks: makeSource("b.md", 2, DIM) }]);
    expect((await rc.listSources()).map((s) => s.source)).toEqual(["a.md", "b.md"]);
    const hits = await rc.search({ mode: "dense", k: 1, vector: vectorFor("b.md#1#v1", DIM) });
    expect(hits[0]!.chunk.source).toBe("b.md");
    await writer.close();
    await reader.close();
    const again = await openEmbeddedStore(folder);
    expect((await again.listCollections()).map((c) => [c.name, c.modelId, c.dimension])).toEqual([
      ["docs", MODEL, DIM],
    ]);
    await again.close();
  });

  it("a reader on another connection never sees a partial or mixed replacement", async () => {
    const folder = join(dir, "two-connections");
    const writer = await openEmbeddedStore(folder);
    const wc = await writer.openCollection("docs", { modelId: MODEL, dimension: DIM, create: true });
    const versions = [4, 9, 2, 7, 1, 6, 3, 8].map((count, i) =>
      makeSource("live.md", count, DIM, { version: `v${i}` }),
    );
    const counts = new Map(versions.map((v) => [v[0]!.sourceHash, v.length]));
    await wc.replaceSources([{ source: "live.md", chunks: versions[0]! }]);
    const reader = await openEmbeddedStore(folder);
    const rc = await reader.openCollection("docs", { modelId: MODEL, dimension: DIM, create: false });
    let done = false;
    const seen = new Set<string>();
    const problems: string[] = [];
    const read = async () => {
      while (!done) {
        const chunks = await rc.getSource("live.md");
        const hits = await rc.search({ mode: "dense", k: 20, vector: vectorFor("q", DIM) });
        for (const list of [chunks, hits.map((h) => h.chunk)]) {
          const hashes = new Set(list.map((x) => x.sourceHash));
          const [hash] = [...hashes];
          if (hashes.size !== 1 || list.length !== counts.get(hash!)) problems.push(`${hashes.size}/${list.length}`);
          else seen.add(hash!);
        }
      }
    };
    const write = async () => {
      for (const v of versions.slice(1)) await wc.replaceSources([{ source: "live.md", chunks: v }]);
      done = true;
    };
    await Promise.all([read(), write()]);
    expect(problems).toEqual([]);
    expect(seen.size).toBeGreaterThan(1);
    await writer.close();
    await reader.close();
  });

  it("an emptied collection can be taken over by another model; a non-empty one cannot", async () => {
    const store = await openEmbeddedStore(join(dir, "switch"));
    const a = await store.openCollection("docs", { modelId: MODEL, dimension: DIM, create: true });
    await a.replaceSources([{ source: "a.md", chunks: makeSource("a.md", 2, DIM) }]);
    await expect(
      store.openCollection("docs", { modelId: "test:model-b@1", dimension: 8, create: true }),
    ).rejects.toBeInstanceOf(ModelMismatchError);
    expect(await a.deleteSources({ prefix: "" })).toBe(2);
    const b = await store.openCollection("docs", { modelId: "test:model-b@1", dimension: 8, create: true });
    expect(b.meta).toMatchObject({ modelId: "test:model-b@1", dimension: 8 });
    await b.replaceSources([{ source: "b.md", chunks: makeSource("b.md", 1, 8) }]);
    expect((await store.listCollections())[0]).toMatchObject({ modelId: "test:model-b@1", dimension: 8 });
    await store.close();
  });

  it("dropCollection removes the table and its metadata", async () => {
    const store = await openEmbeddedStore(join(dir, "drop"));
    const c = await store.openCollection("docs", { modelId: MODEL, dimension: DIM, create: true });
    await c.replaceSources([{ source: "a.md", chunks: makeSource("a.md", 2, DIM) }]);
    expect(await store.dropCollection("docs")).toBe(true);
    expect(await store.dropCollection("docs")).toBe(false);
    expect(await store.listCollections()).toEqual([]);
    await expect(store.openCollection("docs", { modelId: MODEL, dimension: DIM, create: false })).rejects.toThrow(
      /does not exist/,
    );
    await store.close();
  });

  it("a closed store refuses further use", async () => {
    const store = await openEmbeddedStore(join(dir, "closed"));
    const c = await store.openCollection("docs", { modelId: MODEL, dimension: DIM, create: true });
    await store.close();
    await store.close();
    await expect(store.listCollections()).rejects.toThrow(/closed/);
    await expect(c.getSource("a.md")).rejects.toThrow(/closed/);
  });
});
