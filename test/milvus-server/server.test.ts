import * as grpc from "@grpc/grpc-js";
import {
  DataType,
  ErrorCode,
  FunctionType,
  MilvusClient,
  type RowData,
  RRFRanker,
  WeightedRanker,
} from "@zilliz/milvus2-sdk-node";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { type MilvusTestServer, startMilvusTestServer } from "./index.js";

const DIM = 4;

/** mrag's collection schema, as the Milvus store creates it. */
function mragCollection(name: string) {
  const varchar = (field: string, max: number, extra: object = {}) => ({
    name: field,
    data_type: DataType.VarChar,
    max_length: max,
    ...extra,
  });
  const int64 = (field: string) => ({ name: field, data_type: DataType.Int64 });
  const list = (field: string) => ({
    name: field,
    data_type: DataType.Array,
    element_type: DataType.VarChar,
    max_capacity: 64,
    max_length: 256,
  });
  return {
    collection_name: name,
    consistency_level: "Strong" as const,
    fields: [
      varchar("id", 256, { is_primary_key: true, autoID: false }),
      varchar("text", 65535, { enable_analyzer: true, analyzer_params: { type: "standard" } }),
      { name: "dense", data_type: DataType.FloatVector, dim: DIM },
      { name: "sparse", data_type: DataType.SparseFloatVector },
      varchar("source", 1024),
      list("heading_path"),
      list("tags"),
      varchar("file_type", 64),
      varchar("content_hash", 128),
      varchar("source_hash", 128),
      int64("position"),
      int64("line_start"),
      int64("line_end"),
      int64("ingested_at"),
    ],
    functions: [
      {
        name: "text_bm25",
        type: FunctionType.BM25,
        input_field_names: ["text"],
        output_field_names: ["sparse"],
        params: {},
      },
    ],
    index_params: [
      { field_name: "dense", index_type: "HNSW", metric_type: "COSINE", params: { M: 16, efConstruction: 64 } },
      { field_name: "sparse", index_type: "SPARSE_INVERTED_INDEX", metric_type: "BM25" },
    ],
    properties: { "mrag.model_id": "test-model", "mrag.dimension": String(DIM), "mrag.created_at": "2025-01-01" },
  };
}

function chunk(id: string, text: string, dense: number[], extra: Partial<Record<string, unknown>> = {}): RowData {
  return {
    id,
    text,
    dense,
    source: "docs/a.md",
    heading_path: ["Intro"],
    tags: [],
    file_type: "md",
    content_hash: `h-${id}`,
    source_hash: "s",
    position: 0,
    line_start: 1,
    line_end: 2,
    ingested_at: 1700000000000,
    ...extra,
  } as RowData;
}

function cosine(a: number[], b: number[]): number {
  const dot = a.reduce((s, x, i) => s + x * b[i]!, 0);
  return dot / (Math.hypot(...a) * Math.hypot(...b));
}

let server: MilvusTestServer;
let client: MilvusClient;

beforeAll(async () => {
  server = await startMilvusTestServer();
  client = new MilvusClient({ address: server.address, logLevel: "error" });
  await client.connectPromise;
});

afterAll(async () => {
  await client.closeConnection();
  await server.close();
});

describe("the mrag schema end to end", () => {
  const name = "mrag_chunks";

  beforeAll(async () => {
    await client.createCollection(mragCollection(name));
  });

  test("describe returns the created schema, BM25 function, properties, indexes and load state", async () => {
    const described = await client.describeCollection({ collection_name: name });
    expect(described.status.error_code).toBe(ErrorCode.SUCCESS);
    expect(described.schema.fields.map((f) => f.name)).toEqual([
      "id",
      "text",
      "dense",
      "sparse",
      "source",
      "heading_path",
      "tags",
      "file_type",
      "content_hash",
      "source_hash",
      "position",
      "line_start",
      "line_end",
      "ingested_at",
    ]);
    const sparse = described.schema.fields.find((f) => f.name === "sparse")!;
    expect(sparse.is_function_output).toBe(true);
    expect(described.schema.fields.find((f) => f.name === "dense")!.dim).toBe(String(DIM));
    expect(described.schema.functions[0]).toMatchObject({
      name: "text_bm25",
      type: "BM25",
      input_field_names: ["text"],
      output_field_names: ["sparse"],
    });
    expect(described.properties).toContainEqual({ key: "mrag.model_id", value: "test-model" });
    expect(described.consistency_level).toBe("Strong");

    const indexes = await client.describeIndex({ collection_name: name });
    const params = Object.fromEntries(
      indexes.index_descriptions.map((d) => [d.field_name, Object.fromEntries(d.params.map((p) => [p.key, p.value]))]),
    );
    expect(params.dense).toMatchObject({ index_type: "HNSW", metric_type: "COSINE" });
    expect(params.sparse).toMatchObject({ index_type: "SPARSE_INVERTED_INDEX", metric_type: "BM25" });
    expect((await client.getLoadState({ collection_name: name })).state).toBe("LoadStateLoaded");

    await client.alterCollectionProperties({ collection_name: name, properties: { "mrag.note": "x" } });
    const altered = await client.describeCollection({ collection_name: name, cache: false });
    expect(altered.properties).toContainEqual({ key: "mrag.note", value: "x" });
  });

  test("insert appends duplicates, upsert replaces by key, delete by expression reports its count", async () => {
    const collection_name = "mrag_writes";
    await client.createCollection(mragCollection(collection_name));
    await client.insert({
      collection_name,
      data: [chunk("a", "alpha", [1, 0, 0, 0]), chunk("b", "beta", [0, 1, 0, 0], { source: "docs/b.md" })],
    });
    await client.insert({ collection_name, data: [chunk("a", "alpha again", [1, 0, 0, 0])] });
    // count(*) counts stored rows, so an insert with an existing key shows up; query keeps the newest.
    expect((await client.count({ collection_name })).data).toBe(3);
    const a = await client.query({ collection_name, filter: 'id == "a"', output_fields: ["text"] });
    expect(a.data).toEqual([{ id: "a", text: "alpha again" }]);

    const upserted = await client.upsert({ collection_name, data: [chunk("a", "alpha final", [1, 0, 0, 0])] });
    expect(upserted.status.error_code).toBe(ErrorCode.SUCCESS);
    expect(upserted.upsert_cnt).toBe("1");
    expect((await client.count({ collection_name })).data).toBe(2);

    const deleted = await client.delete({ collection_name, filter: 'source == "docs/b.md"' });
    expect(deleted.delete_cnt).toBe("1");
    const left = await client.query({ collection_name, filter: 'id != ""', output_fields: ["id", "text", "tags"] });
    expect(left.data).toEqual([{ id: "a", text: "alpha final", tags: [] }]);
    expect((await client.getCollectionStatistics({ collection_name })).data.row_count).toBe("1");
  });

  test("query pages by primary key in byte order, counts, and refuses what Milvus refuses", async () => {
    const collection_name = "mrag_paging";
    await client.createCollection(mragCollection(collection_name));
    const ids = ["b", "a", "é", "Z", "c10", "c2", "\u{1F600}", "\uFFFD", "_", "0"];
    await client.insert({ collection_name, data: ids.map((id, i) => chunk(id, `t${i}`, [1, 1, 1, i])) });
    const seen: string[] = [];
    let last = "";
    for (;;) {
      const page = await client.query({
        collection_name,
        filter: `id > ${JSON.stringify(last)}`,
        output_fields: ["id"],
        limit: 3,
      });
      expect(page.status.error_code).toBe(ErrorCode.SUCCESS);
      if (page.data.length === 0) break;
      seen.push(...page.data.map((r) => r.id as string));
      last = seen.at(-1)!;
    }
    const byteOrder = [...ids].sort((x, y) => Buffer.compare(Buffer.from(x), Buffer.from(y)));
    expect(seen).toEqual(byteOrder);
    expect((await client.count({ collection_name, expr: 'file_type == "md"' })).data).toBe(ids.length);

    const window = await client.query({ collection_name, filter: 'id != ""', limit: 16000, offset: 1000 });
    expect(window.status.reason).toBe(
      "invalid max query result window, (offset+limit) should be in range [1, 16384], but got 17000",
    );
    const unbounded = await client.query({ collection_name, filter: "", output_fields: ["id"] });
    expect(unbounded.status).toMatchObject({
      error_code: "IllegalArgument",
      code: 1100,
      reason: "empty expression should be used with limit: invalid parameter",
    });
    const pagedCount = await client.query({ collection_name, output_fields: ["count(*)"], limit: 5 });
    expect(pagedCount.status.reason).toBe("count entities with pagination is not allowed: invalid parameter");
  });

  test("filtered dense search ranks by cosine, pre-filters and respects the limit", async () => {
    const collection_name = "mrag_dense";
    await client.createCollection(mragCollection(collection_name));
    const vectors: Record<string, number[]> = {
      near: [1, 0.1, 0, 0],
      mid: [1, 1, 0, 0],
      far: [0, 0, 1, 1],
      nearest_but_filtered: [1, 0, 0, 0],
    };
    await client.insert({
      collection_name,
      data: Object.entries(vectors).map(([id, v]) =>
        chunk(id, id, v, { tags: id === "nearest_but_filtered" ? ["other"] : ["keep"], file_type: "md" }),
      ),
    });
    const query = [1, 0, 0, 0];
    const res = await client.search({
      collection_name,
      data: query,
      anns_field: "dense",
      filter: 'array_contains_any(tags, ["keep"]) and file_type in ["md", "txt"]',
      limit: 2,
      output_fields: ["id", "source"],
    });
    expect(res.status.error_code).toBe(ErrorCode.SUCCESS);
    expect(res.results.map((r) => r.id)).toEqual(["near", "mid"]);
    expect(res.results[0]!.score).toBeCloseTo(cosine(query, vectors.near!), 5);
    expect(res.results[1]!.score).toBeCloseTo(cosine(query, vectors.mid!), 5);
    expect(res.results[0]!.source).toBe("docs/a.md");

    const wrongDim = await client.search({ collection_name, data: [1, 0], anns_field: "dense", limit: 1 });
    expect(wrongDim.status.code).toBe(2000);
    expect(wrongDim.status.reason).toContain("vector dimension mismatch, expected vector size(byte) 16, actual 8");
    const wrongMetric = await client.search({
      collection_name,
      data: query,
      anns_field: "dense",
      metric_type: "L2",
      limit: 1,
    });
    expect(wrongMetric.status.reason).toBe("metric type not match: invalid parameter[expected=COSINE][actual=L2]");

    const badInsert = await client.insert({ collection_name, data: [chunk("short", "x", [1, 0])] });
    expect(badInsert.status.reason).toBe("the length(2) of float data should divide the dim(4)");
  });

  test("BM25 search scores raw text with k1 1.2, b 0.75 and IDF over the current rows", async () => {
    const collection_name = "mrag_bm25";
    await client.createCollection(mragCollection(collection_name));
    await client.insert({
      collection_name,
      data: [
        chunk("d1", "Apple, banana!", [1, 0, 0, 0]),
        chunk("d2", "APPLE apple cherry", [0, 1, 0, 0]),
        chunk("d3", "durian", [0, 0, 1, 0]),
      ],
    });
    const res = await client.search({
      collection_name,
      data: "apple",
      anns_field: "sparse",
      limit: 10,
      output_fields: ["id"],
    });
    expect(res.status.error_code).toBe(ErrorCode.SUCCESS);
    // N = 3, n(apple) = 2, avgdl = 2: idf = ln(1 + 1.5 / 2.5); d1 tf 1 len 2, d2 tf 2 len 3; d3 shares no term.
    const idf = Math.log(1.6);
    const d2 = (idf * (2 * 2.2)) / (2 + 1.2 * (0.25 + (0.75 * 3) / 2));
    const d1 = (idf * 2.2) / (1 + 1.2 * (0.25 + (0.75 * 2) / 2));
    expect(res.results.map((r) => r.id)).toEqual(["d2", "d1"]);
    expect(res.results[0]!.score).toBeCloseTo(d2, 5);
    expect(res.results[1]!.score).toBeCloseTo(d1, 5);

    const filtered = await client.search({
      collection_name,
      data: "apple",
      anns_field: "sparse",
      filter: 'id != "d2"',
      limit: 10,
    });
    expect(filtered.results.map((r) => r.id)).toEqual(["d1"]);

    const sparseOut = await client.query({ collection_name, filter: 'id == "d1"', output_fields: ["sparse"] });
    expect(sparseOut.status.reason).toBe("not allowed to retrieve raw data of field sparse");
  });

  test("hybrid search fuses dense and BM25 with RRF (and the weighted ranker)", async () => {
    const collection_name = "mrag_hybrid";
    await client.createCollection(mragCollection(collection_name));
    await client.insert({
      collection_name,
      data: [
        chunk("x", "milvus stores vectors", [1, 0, 0, 0]),
        chunk("y", "milvus milvus milvus", [0, 1, 0, 0]),
        chunk("z", "nothing relevant", [0.9, 0.1, 0, 0]),
      ],
    });
    const dense = { data: [1, 0, 0, 0], anns_field: "dense", limit: 3 };
    const keyword = { data: "milvus", anns_field: "sparse", limit: 3 };
    const rrf = await client.hybridSearch({
      collection_name,
      data: [dense, keyword],
      rerank: RRFRanker(10),
      limit: 2,
      output_fields: ["id"],
    });
    expect(rrf.status.error_code).toBe(ErrorCode.SUCCESS);
    // dense ranks x, z, y; BM25 ranks y, x (z has no term): x = 1/11 + 1/12, y = 1/13 + 1/11, z = 1/12.
    expect(rrf.results.map((r) => r.id)).toEqual(["x", "y"]);
    expect(rrf.results[0]!.score).toBeCloseTo(1 / 11 + 1 / 12, 5);
    expect(rrf.results[1]!.score).toBeCloseTo(1 / 13 + 1 / 11, 5);

    const filtered = await client.hybridSearch({
      collection_name,
      data: [
        { ...dense, expr: 'id != "x"' },
        { ...keyword, expr: 'id != "x"' },
      ],
      rerank: RRFRanker(),
      limit: 5,
      output_fields: ["id"],
    });
    expect(filtered.results.map((r) => r.id)).toEqual(["y", "z"]);

    const weighted = await client.hybridSearch({
      collection_name,
      data: [dense, keyword],
      rerank: WeightedRanker([1, 0]),
      limit: 1,
      output_fields: ["id"],
    });
    expect(weighted.results[0]).toMatchObject({ id: "x" });
    expect(weighted.results[0]!.score).toBeCloseTo(1, 5);
  });

  test("a hostile value inside an escaped string literal stays one literal", async () => {
    const collection_name = "mrag_literals";
    await client.createCollection(mragCollection(collection_name));
    const hostile = 'a" or 1==1 or "';
    const quoted = 'it\'s \\ "quoted"\n';
    await client.insert({
      collection_name,
      data: [
        chunk("h", "h", [1, 0, 0, 0], { source: hostile }),
        chunk("q", "q", [1, 0, 0, 0], { source: quoted }),
        chunk("p", "p", [1, 0, 0, 0], { source: "100%_done" }),
        chunk("o", "o", [1, 0, 0, 0], { source: "1000 done" }),
      ],
    });
    const find = async (filter: string) =>
      (await client.query({ collection_name, filter, output_fields: ["id"] })).data.map((r) => r.id);
    expect(await find(`source == ${JSON.stringify(hostile)}`)).toEqual(["h"]);
    expect(await find(`source == ${JSON.stringify(quoted)}`)).toEqual(["q"]);
    expect(await find(String.raw`source == 'it\'s \\ "quoted"\n'`)).toEqual(["q"]);
    expect(await find(String.raw`source like "100\\%\\_%"`)).toEqual(["p"]);
    expect(await find('source like "100%"')).toEqual(["p", "o"]);
  });

  test("bad expressions fail with Milvus's messages instead of matching everything", async () => {
    const collection_name = "mrag_bad";
    await client.createCollection(mragCollection(collection_name));
    await client.insert({ collection_name, data: [chunk("a", "a", [1, 0, 0, 0])] });
    const reason = async (filter: string) =>
      (await client.query({ collection_name, filter, output_fields: ["id"] })).status;
    expect(await reason('nope == "x"')).toMatchObject({
      code: 1100,
      reason:
        'failed to create query plan: cannot parse expression: nope == "x", error: there is no dynamic json field in schema, need to specified field name: invalid parameter',
    });
    expect((await reason('source = "x"')).reason).toContain('cannot parse expression: source = "x"');
    expect((await reason('position == "1"')).reason).toContain(
      "comparisons between Int64 and VarChar are not supported",
    );
    expect((await reason('not source == "x"')).reason).toContain("cannot parse expression");
    expect((await reason('source == "unterminated')).reason).toContain("token recognition error");
    const search = await client.search({
      collection_name,
      data: [1, 0, 0, 0],
      anns_field: "dense",
      filter: "source ==",
    });
    expect(search.status.error_code).not.toBe(ErrorCode.SUCCESS);
    const del = await client.delete({ collection_name, filter: "tags == 1" });
    expect(del.status.reason).toContain("can not comparisons array fields directly");
    expect((await client.count({ collection_name })).data).toBe(1);
  });

  test("a missing collection is Milvus's collection-not-found status", async () => {
    const res = await client.describeCollection({ collection_name: "missing_one" });
    expect(res.status).toMatchObject({
      error_code: "CollectionNotExists",
      code: 100,
      reason: "can't find collection[database=default][collection=missing_one]",
    });
    expect((await client.hasCollection({ collection_name: "missing_one" })).value).toBe(false);
  });

  test("failNext: UNAVAILABLE reaches the caller once the SDK's three retries are spent; a Milvus status is returned as is", async () => {
    const before = server.calls.get("Query") ?? 0;
    server.failNext("Query", { grpcCode: grpc.status.UNAVAILABLE, reason: "node down" });
    const retried = await client.query({ collection_name: name, filter: 'id == "a"' });
    expect(retried.status.error_code).toBe(ErrorCode.SUCCESS);
    expect(server.calls.get("Query")).toBe(before + 2);

    server.failNext("Query", { grpcCode: grpc.status.UNAVAILABLE, reason: "node down" }, 4);
    await expect(client.query({ collection_name: name, filter: 'id == "a"' })).rejects.toMatchObject({
      code: grpc.status.UNAVAILABLE,
      details: expect.stringContaining("node down (retried 3 times"),
    });
    expect(server.calls.get("Query")).toBe(before + 6);

    server.failNext("Insert", { milvusCode: 9, reason: "quota exceeded[reason=rate]" });
    const insert = await client.insert({ collection_name: name, data: [chunk("r", "r", [1, 0, 0, 0])] });
    expect(insert.status).toMatchObject({ code: 9, reason: "quota exceeded[reason=rate]" });
    expect(insert.status.error_code).not.toBe(ErrorCode.SUCCESS);
  });
});

describe("server options", () => {
  test("a wrong token is Milvus's UNAUTHENTICATED failure; the right one works", async () => {
    const secured = await startMilvusTestServer({ token: "root:Milvus" });
    const wrong = new MilvusClient({ address: secured.address, token: "root:nope", logLevel: "error" });
    wrong.connectPromise.catch(() => undefined);
    const right = new MilvusClient({
      address: secured.address,
      username: "root",
      password: "Milvus",
      logLevel: "error",
    });
    try {
      await expect(wrong.showCollections()).rejects.toMatchObject({
        code: grpc.status.UNAUTHENTICATED,
        details: "auth check failure, please check username and password are correct",
      });
      expect((await right.showCollections()).status.error_code).toBe(ErrorCode.SUCCESS);
    } finally {
      await Promise.all([wrong.closeConnection(), right.closeConnection()]);
      await secured.close();
    }
  });

  test("the collection quota fails the next create with Milvus's quota message", async () => {
    const limited = await startMilvusTestServer({ maxCollections: 1 });
    const c = new MilvusClient({ address: limited.address, logLevel: "error" });
    try {
      await c.createCollection(mragCollection("first"));
      await expect(c.createCollection(mragCollection("second"))).rejects.toMatchObject({
        code: 102,
        reason: "exceeded the limit number of collections[dbName=default][limit=1]",
      });
      expect((await c.showCollections()).data.map((d) => d.name)).toEqual(["first"]);
    } finally {
      await c.closeConnection();
      await limited.close();
    }
  });

  test("a request over maxReceiveMessageBytes fails with RESOURCE_EXHAUSTED and nothing is written", async () => {
    const small = await startMilvusTestServer({ maxReceiveMessageBytes: 32 * 1024 });
    const c = new MilvusClient({ address: small.address, logLevel: "error" });
    try {
      await c.createCollection(mragCollection("sized"));
      await expect(
        c.insert({ collection_name: "sized", data: [chunk("big", "x".repeat(40 * 1024), [1, 0, 0, 0])] }),
      ).rejects.toMatchObject({ code: grpc.status.RESOURCE_EXHAUSTED });
      const ok = await c.insert({ collection_name: "sized", data: [chunk("small", "x", [1, 0, 0, 0])] });
      expect(ok.status.error_code).toBe(ErrorCode.SUCCESS);
      expect((await c.count({ collection_name: "sized" })).data).toBe(1);
    } finally {
      await c.closeConnection();
      await small.close();
    }
  });
});
