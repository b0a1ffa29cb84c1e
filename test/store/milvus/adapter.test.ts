import { DataType, FunctionType, type MilvusClient } from "@zilliz/milvus2-sdk-node";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { StoreError, UsageError } from "../../../src/errors.js";
import { createLogger } from "../../../src/log.js";
import { openMilvusStore } from "../../../src/store/milvus/store.js";
import { type FaultProxy, type FaultProxyOptions, startFaultProxy } from "../../helpers/milvus-fault-proxy.js";
import { adminClient, freshDatabase, useMilvusLite } from "../../helpers/milvus-lite-suite.js";
import { makeSource, prng, unitVector } from "../../store-contract/fixtures.js";

/**
 * What the Milvus adapter must do beyond the shared store contract: the bad inputs (wrong token,
 * missing field, oversized batch, quota, transient errors) and existing collections with other field names.
 * Everything runs on a real Milvus Lite (a fresh database per test); what a healthy Lite never does (refuse a
 * token, a request size or a collection quota; fail a call with UNAVAILABLE) comes from the fault proxy in
 * front of it, over the real protocol.
 */
const DIM = 8;
const MODEL = "test:synthetic-8@1";

const lite = useMilvusLite("Milvus store adapter (Milvus Lite)");

let database = "";
let dropDatabase: (() => Promise<void>) | undefined;
const proxies: FaultProxy[] = [];
const clients: MilvusClient[] = [];
if (lite.available) {
  beforeEach(async () => {
    const db = await freshDatabase(lite.server().uri);
    database = db.database;
    dropDatabase = () => db.cleanup();
  });
  afterEach(async () => {
    for (const c of clients.splice(0)) await c.closeConnection().catch(() => undefined);
    for (const p of proxies.splice(0)) await p.close();
    await dropDatabase?.();
  });
}

/** The test's database on the real server. */
function server(): { uri: string; database: string } {
  return { uri: lite.server().uri, database };
}

async function proxy(options: FaultProxyOptions = {}): Promise<FaultProxy> {
  const p = await startFaultProxy(lite.server().uri, options);
  proxies.push(p);
  return p;
}

function sdk(s: { uri: string; database: string }): MilvusClient {
  const client = adminClient(s.uri, undefined, s.database);
  clients.push(client);
  return client;
}

/** A collection made by another tool: its own field names, no mrag properties, optional BM25. */
async function foreignCollection(
  s: { uri: string; database: string },
  name: string,
  options: { withSource?: boolean; bm25?: boolean } = {},
): Promise<MilvusClient> {
  const client = sdk(s);
  const fields = [
    { name: "pk", data_type: DataType.VarChar, max_length: 64, is_primary_key: true, autoID: false },
    { name: "content", data_type: DataType.VarChar, max_length: 4096, enable_analyzer: true },
    { name: "embedding", data_type: DataType.FloatVector, dim: DIM },
    ...(options.bm25 ? [{ name: "sparse_vec", data_type: DataType.SparseFloatVector }] : []),
    ...(options.withSource === false ? [] : [{ name: "url", data_type: DataType.VarChar, max_length: 512 }]),
  ];
  await client.createCollection({
    collection_name: name,
    fields,
    ...(options.bm25
      ? {
          functions: [
            {
              name: "bm25",
              type: FunctionType.BM25,
              input_field_names: ["content"],
              output_field_names: ["sparse_vec"],
              params: {},
            },
          ],
        }
      : {}),
    index_params: [
      { field_name: "embedding", index_type: "HNSW", metric_type: "COSINE" },
      ...(options.bm25 ? [{ field_name: "sparse_vec", index_type: "SPARSE_INVERTED_INDEX", metric_type: "BM25" }] : []),
    ],
  });
  if (options.withSource !== false) {
    const random = prng(7);
    await client.insert({
      collection_name: name,
      data: [0, 1, 2].map((i) => ({
        pk: `row-${i}`,
        content: `external row ${i} about ${i === 1 ? "compaction" : "indexes"}`,
        embedding: Array.from(unitVector(DIM, random)),
        url: `https://example.com/${i}`,
      })),
    });
  }
  return client;
}

const suite = lite.available ? describe : describe.skip;

suite("Milvus store adapter (Milvus Lite)", () => {
  it("without a server-side english analyzer (Lite) mrag analyses the text itself and records it", async () => {
    const s = server();
    const warnings: string[] = [];
    const store = await openMilvusStore({
      uri: s.uri,
      database: s.database,
      timeoutMs: 5000,
      logger: createLogger("warn", (line) => warnings.push(line)),
    });
    const c = await store.openCollection("docs", { modelId: MODEL, dimension: DIM, create: true });
    expect(warnings.join("")).toMatch(/no built-in English analyzer.*mrag\.analyzer=mrag-english/);
    const described = await sdk(s).describeCollection({ collection_name: "docs" });
    const props = new Map(described.properties.map((p) => [p.key, p.value]));
    expect(props.get("mrag.analyzer")).toBe("mrag-english");
    const chunks = makeSource("a.md", 2, DIM).map((chunk, i) => ({
      ...chunk,
      text: i === 0 ? "The servers were Running quickly" : "Nothing relevant here",
    }));
    await c.replaceSources([{ source: "a.md", chunks }]);
    // A second store reads the recorded analyzer: its queries are stemmed the same way.
    const again = await openMilvusStore({ uri: s.uri, database: s.database, timeoutMs: 5000 });
    const reopened = await again.openCollection("docs", { modelId: MODEL, dimension: DIM, create: false });
    const hits = await reopened.search({ mode: "keyword", k: 5, text: "server runs" });
    expect(hits.map((h) => h.chunk.text)).toEqual(["The servers were Running quickly"]);
    expect(hits[0]!.score).toBeGreaterThan(0);
    expect(await reopened.search({ mode: "keyword", k: 5, text: "the and of" })).toEqual([]);
    await again.close();
    await store.close();
  });

  it("a wrong token is refused with a message naming MILVUS_TOKEN, never echoing the token", async () => {
    const s = { ...(await proxy({ token: "root:right-password" })), database };
    const error = await openMilvusStore({
      uri: s.uri,
      database: s.database,
      token: "root:wrong-password-xyz",
      timeoutMs: 5000,
    }).catch((e: unknown) => e as Error);
    expect(error).toBeInstanceOf(StoreError);
    expect((error as Error).message).toMatch(/refused the credentials.*MILVUS_TOKEN/);
    expect((error as Error).message).not.toContain("wrong-password-xyz");
    const ok = await openMilvusStore({
      uri: s.uri,
      database: s.database,
      token: "root:right-password",
      timeoutMs: 5000,
    });
    await ok.close();
  });

  it("a batch bigger than the server's message limit is split, not failed", async () => {
    const s = { ...(await proxy({ maxRequestBytes: 64 * 1024 })), database };
    const store = await openMilvusStore({ uri: s.uri, database: s.database, timeoutMs: 5000 });
    const c = await store.openCollection("docs", { modelId: MODEL, dimension: DIM, create: true });
    // ~40 chunks of ~6 KB: about 240 KB in what the adapter plans as one request.
    const chunks = makeSource("big.md", 40, DIM).map((chunk) => ({
      ...chunk,
      text: `${chunk.text} ${"x".repeat(6000)}`,
    }));
    await c.replaceSources([{ source: "big.md", chunks }]);
    expect((await c.getSource("big.md")).length).toBe(40);
    expect(s.calls.get("Upsert") ?? 0).toBeGreaterThan(2);
    const [listed] = await c.listSources();
    expect(listed).toMatchObject({ source: "big.md", chunks: 40, sourceHash: chunks[0]!.sourceHash });
    await store.close();
  });

  it("a collection quota (free tiers) is a plain message, not a raw status", async () => {
    const s = { ...(await proxy({ maxCollections: 1 })), database };
    const store = await openMilvusStore({ uri: s.uri, database: s.database, timeoutMs: 5000 });
    await store.openCollection("first", { modelId: MODEL, dimension: DIM, create: true });
    const error = await store
      .openCollection("second", { modelId: MODEL, dimension: DIM, create: true })
      .catch((e: unknown) => e as Error);
    expect(error).toBeInstanceOf(StoreError);
    expect((error as Error).message).toMatch(/a limit was reached.*drop an unused collection/);
    await store.close();
  });

  it("a transient UNAVAILABLE is retried with backoff; a persistent one fails with the unreachable message", async () => {
    const s = { ...(await proxy()), database };
    const store = await openMilvusStore({ uri: s.uri, database: s.database, timeoutMs: 5000, maxRetries: 3 });
    const c = await store.openCollection("docs", { modelId: MODEL, dimension: DIM, create: true });
    await c.replaceSources([{ source: "a.md", chunks: makeSource("a.md", 3, DIM) }]);
    s.failNext("Query", { code: 14, message: "injected: node restarting" }, 1);
    expect((await c.getSource("a.md")).length).toBe(3);
    s.failNext("Query", { code: 14, message: "injected: node restarting" }, 10);
    const error = await c.getSource("a.md").catch((e: unknown) => e as Error);
    expect(error).toBeInstanceOf(StoreError);
    expect((error as Error).message).toMatch(/cannot reach Milvus/);
    await store.close();
  });

  it("a gRPC error status mid-ingest fails the write with the server's reason; the re-run completes", async () => {
    const s = { ...(await proxy()), database };
    const store = await openMilvusStore({ uri: s.uri, database: s.database, timeoutMs: 5000, maxRetries: 0 });
    const c = await store.openCollection("docs", { modelId: MODEL, dimension: DIM, create: true });
    const v1 = makeSource("a.md", 3, DIM, { version: "v1" });
    await c.replaceSources([{ source: "a.md", chunks: v1 }]);
    const v2 = makeSource("a.md", 6, DIM, { version: "v2" });
    s.failNext("Upsert", { code: 13, message: "injected: segment flush failed" }, 1);
    const error = await c.replaceSources([{ source: "a.md", chunks: v2 }]).catch((e: unknown) => e as Error);
    expect(error).toBeInstanceOf(StoreError);
    expect((error as Error).message).toMatch(/failed while upserting chunks.*segment flush failed/);
    // Nothing of the failed write was committed (generations): readers still see version 1, whole.
    expect((await c.listSources())[0]).toMatchObject({ source: "a.md", chunks: 3, sourceHash: v1[0]!.sourceHash });
    expect((await c.getSource("a.md")).map((x) => x.id)).toEqual(v1.map((x) => x.id));
    await c.replaceSources([{ source: "a.md", chunks: v2 }]);
    expect((await c.listSources())[0]).toMatchObject({ source: "a.md", chunks: 6, sourceHash: v2[0]!.sourceHash });
    await store.close();
  });

  it("an existing collection missing a required field is refused, naming the field and the fix", async () => {
    const s = server();
    await foreignCollection(s, "articles", { withSource: false });
    const store = await openMilvusStore({
      uri: s.uri,
      database: s.database,
      timeoutMs: 5000,
      fields: { id: "pk", text: "content", dense: "embedding" },
    });
    const error = await store
      .openCollection("articles", { modelId: MODEL, dimension: DIM, create: false })
      .catch((e: unknown) => e as Error);
    expect(error).toBeInstanceOf(StoreError);
    const message = (error as Error).message;
    expect(message).toMatch(/missing required fields "source" \(source\)/);
    expect(message).toMatch(/pk: VarChar/);
    expect(message).toMatch(/milvus\.fields/);
    await store.close();
  });

  it("an existing collection with mapped field names is searched and read; writes and keyword search say why not", async () => {
    const s = server();
    await foreignCollection(s, "articles");
    const warnings: string[] = [];
    const store = await openMilvusStore({
      uri: s.uri,
      database: s.database,
      timeoutMs: 5000,
      fields: { id: "pk", text: "content", dense: "embedding", source: "url" },
      logger: createLogger("warn", (line) => warnings.push(line)),
    });
    const c = await store.openCollection("articles", { modelId: MODEL, dimension: DIM, create: false });
    expect(warnings.join("")).toMatch(/does not record its embedding model.*assumes/);
    const hits = await c.search({ mode: "dense", k: 3, vector: unitVector(DIM, prng(1)) });
    expect(hits.map((h) => h.chunk.source).sort()).toEqual([0, 1, 2].map((i) => `https://example.com/${i}`));
    expect(hits[0]!.chunk.text).toMatch(/^external row/);
    expect(await c.stats()).toMatchObject({ chunks: 3, sources: 3, indexes: { vector: "HNSW/COSINE", fts: false } });
    expect((await c.getByIds(["row-1"]))[0]).toMatchObject({
      id: "row-1",
      source: "https://example.com/1",
      position: 0,
    });
    await expect(c.search({ mode: "keyword", k: 3, text: "compaction" })).rejects.toThrow(
      /no BM25 full-text field.*dense/,
    );
    await expect(
      c.search({ mode: "dense", k: 3, vector: unitVector(DIM, prng(1)), filter: { tags: ["x"] } }),
    ).rejects.toThrow(UsageError);
    const write = await c
      .replaceSources([{ source: "x.md", chunks: makeSource("x.md", 1, DIM) }])
      .catch((e: unknown) => e as Error);
    expect(write).toBeInstanceOf(StoreError);
    expect((write as Error).message).toMatch(/can be searched but not written.*position/);
    await store.close();
  });

  it("an existing collection with a BM25 function on its text supports keyword search", async () => {
    const s = server();
    await foreignCollection(s, "articles", { bm25: true });
    const store = await openMilvusStore({
      uri: s.uri,
      database: s.database,
      timeoutMs: 5000,
      fields: { id: "pk", text: "content", dense: "embedding", source: "url", sparse: "sparse_vec" },
    });
    const c = await store.openCollection("articles", { modelId: MODEL, dimension: DIM, create: false });
    const hits = await c.search({ mode: "keyword", k: 3, text: "compaction" });
    expect(hits.map((h) => h.chunk.id)).toEqual(["row-1"]);
    await store.close();
  });

  it("a collection of another dimension is refused even when it records no model", async () => {
    const s = server();
    await foreignCollection(s, "articles");
    const store = await openMilvusStore({
      uri: s.uri,
      database: s.database,
      timeoutMs: 5000,
      fields: { id: "pk", text: "content", dense: "embedding", source: "url" },
    });
    await expect(
      store.openCollection("articles", { modelId: MODEL, dimension: DIM * 2, create: false }),
    ).rejects.toThrow(/8-d vectors, but test:synthetic-8@1 \(16-d\)/);
    await store.close();
  });

  it("mrag names with '-' map to '_' in Milvus and two names never share one collection", async () => {
    const s = server();
    const store = await openMilvusStore({ uri: s.uri, database: s.database, timeoutMs: 5000 });
    const c = await store.openCollection("my-notes", { modelId: MODEL, dimension: DIM, create: true });
    expect(c.meta.name).toBe("my-notes");
    const shown = await sdk(s).showCollections();
    expect(shown.data.map((x) => x.name)).toEqual(["my_notes"]);
    await expect(store.openCollection("my_notes", { modelId: MODEL, dimension: DIM, create: true })).rejects.toThrow(
      /already holds mrag collection "my-notes"/,
    );
    expect((await store.listCollections()).map((m) => m.name)).toEqual(["my-notes"]);
    await store.close();
  });

  it("a replacement cut short (new version partly written) is reported with an empty hash so sync redoes it", async () => {
    const s = server();
    const store = await openMilvusStore({ uri: s.uri, database: s.database, timeoutMs: 5000, maxRetries: 0 });
    const c = await store.openCollection("docs", { modelId: MODEL, dimension: DIM, create: true });
    const v1 = makeSource("a.md", 3, DIM, { version: "v1" });
    await c.replaceSources([{ source: "a.md", chunks: v1 }]);
    // What a crash between two write batches leaves: v2's highest positions written, position 0 not yet.
    const v2 = makeSource("a.md", 5, DIM, { version: "v2" });
    await c.upsert(v2.slice(3));
    const [mixed] = await c.listSources();
    expect(mixed).toMatchObject({ source: "a.md", sourceHash: "" });
    await c.replaceSources([{ source: "a.md", chunks: v2 }]);
    const [fixed] = await c.listSources();
    expect(fixed).toMatchObject({ source: "a.md", chunks: 5, sourceHash: v2[0]!.sourceHash });
    await store.close();
  });
});
