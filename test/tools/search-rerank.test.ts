import { existsSync } from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createHfEmbedder } from "../../src/embed/hf.js";
import { rerankerKind } from "../../src/embed/rerank.js";
import type { TransformersEmbedder } from "../../src/embed/transformers.js";
import { evaluateRetrieval, formatRetrievalTable } from "../../src/eval/retrieval.js";
import { embeddingText } from "../../src/ingest/sync.js";
import type { StoredChunk } from "../../src/store/types.js";
import { runIngest } from "../../src/tools/ingest.js";
import { type SearchOutput, searchHandler } from "../../src/tools/search.js";
import { runMrag } from "../helpers/cli.js";
import { connectInMemory, type InMemoryConnection } from "../helpers/mcp.js";
import { makeWorkspace, REPO_ROOT, type Workspace } from "../helpers/workspace.js";

/** The real all-MiniLM-L6-v2 folder (scripts/model/prepare-minilm.ts): a bi-encoder, so scores are cosines. */
const MINILM = path.join(REPO_ROOT, "models/hf/all-MiniLM-L6-v2");
const QUERY = "Where does Milvus store its data?";

describe("search with the reranker stage (all-MiniLM-L6-v2 as a bi-encoder reranker, milvus-faq)", () => {
  let ws: Workspace;
  let minilm: TransformersEmbedder;
  /** Fused hits without reranking, by id, for the chunk text the reranker sees. */
  const chunks = new Map<string, StoredChunk>();

  /** The cosine MiniLM gives query and chunk, computed here apart from the search path. */
  async function cosines(query: string, ids: readonly string[]): Promise<number[]> {
    const [q, docs] = await Promise.all([
      minilm.embedQuery(query),
      minilm.embedDocuments(ids.map((id) => embeddingText(chunks.get(id)!))),
    ]);
    return docs.map((d) => d.reduce((sum, x, i) => sum + x * q[i]!, 0));
  }

  async function fused(query: string, k: number, mode: "hybrid" | "keyword" = "hybrid"): Promise<SearchOutput> {
    const out = await searchHandler(ws.context, { query, k, mode, rerank: false, snippet_chars: 0 });
    const collection = await ws.context.collection({ create: false });
    const read = await collection.getByIds(out.hits.map((h) => h.id));
    for (const c of read) chunks.set(c.id, c);
    return out;
  }

  beforeAll(async () => {
    expect(existsSync(path.join(MINILM, "config.json")), `${MINILM} (node dist/scripts/model/prepare-minilm.js)`).toBe(
      true,
    );
    ws = makeWorkspace({ flags: { "search.rerankModel": `hf:${MINILM}`, "search.rerankCandidates": 8 } });
    await runIngest(ws.context, { inputs: [ws.docs] });
    minilm = createHfEmbedder(`hf:${MINILM}`);
    await minilm.init();
  }, 300_000);
  afterAll(async () => {
    await minilm?.close();
    await ws?.cleanup();
  });

  it("reorders the fused candidates by the model's scores, highest first", async () => {
    const before = await fused(QUERY, 8);
    const after = await searchHandler(ws.context, { query: QUERY, k: 8, rerank: true, snippet_chars: 0 });
    expect(after.hits.map((h) => h.id).sort()).toEqual(before.hits.map((h) => h.id).sort());
    const expected = await cosines(
      QUERY,
      after.hits.map((h) => h.id),
    );
    after.hits.forEach((hit, i) => {
      expect(hit.score).toBeCloseTo(expected[i]!, 3);
      if (i > 0) expect(hit.score).toBeLessThanOrEqual(after.hits[i - 1]!.score);
    });
    // The fused order is not the model's: reranking changed it.
    expect(after.hits.map((h) => h.id)).not.toEqual(before.hits.map((h) => h.id));
  }, 300_000);

  it("rescores only the first search.rerankCandidates hits; the rest keep their fused order and score", async () => {
    const local = makeWorkspace({ flags: { "search.rerankModel": `hf:${MINILM}`, "search.rerankCandidates": 5 } });
    try {
      await runIngest(local.context, { inputs: [local.docs] });
      const before = await searchHandler(local.context, { query: QUERY, k: 12, rerank: false, snippet_chars: 0 });
      const after = await searchHandler(local.context, { query: QUERY, k: 12, rerank: true, snippet_chars: 0 });
      const head = before.hits.slice(0, 5).map((h) => h.id);
      expect(
        after.hits
          .slice(0, 5)
          .map((h) => h.id)
          .sort(),
      ).toEqual([...head].sort());
      expect(after.hits.slice(5).map((h) => [h.id, h.score])).toEqual(before.hits.slice(5).map((h) => [h.id, h.score]));
      const fusedHead = await fused(QUERY, 5);
      expect(fusedHead.hits.map((h) => h.id)).toEqual(head);
      const expected = await cosines(QUERY, head);
      const byScore = head.map((id, i) => ({ id, s: expected[i]! })).sort((a, b) => b.s - a.s);
      expect(after.hits.slice(0, 5).map((h) => h.id)).toEqual(byScore.map((e) => e.id));
    } finally {
      await local.cleanup();
    }
  }, 300_000);

  it("returns k hits: the best by the model among the candidates, even when k is below rerankCandidates (8)", async () => {
    const pool = await fused(QUERY, 8);
    const scores = await cosines(
      QUERY,
      pool.hits.map((h) => h.id),
    );
    const best = pool.hits[scores.indexOf(Math.max(...scores))]!.id;
    const one = await searchHandler(ws.context, { query: QUERY, k: 1, rerank: true, snippet_chars: 0 });
    expect(one.hits.map((h) => h.id)).toEqual([best]);
    const three = await searchHandler(ws.context, { query: QUERY, k: 3, rerank: true, snippet_chars: 0 });
    expect(three.hits).toHaveLength(3);
    expect(three.hits[0]!.id).toBe(best);
    expect(three.hits.map((h) => h.rank)).toEqual([1, 2, 3]);
  }, 300_000);

  it("reranks keyword (BM25) hits too", async () => {
    const query = "etcd metadata";
    const before = await fused(query, 8, "keyword");
    const after = await searchHandler(ws.context, { query, k: 8, mode: "keyword", rerank: true, snippet_chars: 0 });
    expect(after.mode).toBe("keyword");
    expect(after.hits.map((h) => h.id).sort()).toEqual(before.hits.map((h) => h.id).sort());
    const expected = await cosines(
      query,
      after.hits.map((h) => h.id),
    );
    for (const [i, hit] of after.hits.entries()) expect(hit.score).toBeCloseTo(expected[i]!, 3);
  }, 300_000);

  it("follows search.rerank when the call does not say; the tool's rerank argument overrides it, null = not given", async () => {
    const on = makeWorkspace({
      flags: { "search.rerank": true, "search.rerankModel": `hf:${MINILM}`, "search.rerankCandidates": 8 },
    });
    let conn: InMemoryConnection | undefined;
    try {
      await runIngest(on.context, { inputs: [on.docs] });
      conn = await connectInMemory(on.context);
      const call = async (args: Record<string, unknown>) => {
        const r = await conn!.client.callTool({ name: "search", arguments: { query: QUERY, k: 5, ...args } });
        expect(r.isError, JSON.stringify(r.content)).not.toBe(true);
        return (r.structuredContent as SearchOutput).hits.map((h) => [h.id, h.score]);
      };
      const reranked = (await searchHandler(ws.context, { query: QUERY, k: 5, rerank: true })).hits;
      const plain = (await searchHandler(ws.context, { query: QUERY, k: 5, rerank: false })).hits;
      const pairs = (hits: SearchOutput["hits"]) => hits.map((h) => [h.id, h.score]);
      expect(await call({})).toEqual(pairs(reranked));
      expect(await call({ rerank: null })).toEqual(pairs(reranked));
      expect(await call({ rerank: false })).toEqual(pairs(plain));
      const listed = await conn.client.listTools();
      const schema = listed.tools.find((t) => t.name === "search")?.inputSchema as {
        properties: Record<string, { type?: string }>;
      };
      expect(schema.properties.rerank?.type).toBe("boolean");
    } finally {
      await conn?.close();
      await on.cleanup();
    }
  }, 300_000);

  it("mrag eval retrieval adds a '<mode> + rerank' row measured through the same search", async () => {
    const gold = "docs/product_faq.md#Where does Milvus store data?";
    const report = await evaluateRetrieval(
      ws.context,
      {
        name: "faq-2",
        path: "inline",
        format: "jsonl",
        documents: [],
        questions: [
          { id: "q1", question: QUERY, gold: [gold] },
          {
            id: "q2",
            question: "Why is there no vector data in etcd?",
            gold: ["docs/product_faq.md#Why is there no vector data in etcd?"],
          },
        ],
      },
      { modes: ["keyword"], ks: [1, 5], rerank: true },
    );
    expect(report.modes.map((m) => [m.mode, m.rerank])).toEqual([
      ["keyword", false],
      ["keyword", true],
    ]);
    expect(formatRetrievalTable(report)).toContain("| keyword + rerank |");
    const reranked = report.perQuestion.filter((q) => q.rerank);
    expect(reranked.map((q) => q.id)).toEqual(["q1", "q2"]);
    // The row ranks what the search tool with rerank returns for the question.
    const hits = (await searchHandler(ws.context, { query: QUERY, k: 30, mode: "keyword", rerank: true })).hits;
    const sections = [...new Set(hits.map((h) => `${h.source}#${h.heading?.split(" > ").at(-1) ?? ""}`))];
    expect(reranked[0]!.ranked).toEqual(sections);
  }, 300_000);

  it("a missing model folder is a one-line error naming search.rerankModel; without rerank nothing loads", async () => {
    const missing = path.join(ws.dir, "no-such-reranker");
    const bad = makeWorkspace({ copyFaq: false, flags: { "search.rerankModel": `hf:${missing}` } });
    try {
      await runIngest(bad.context, { inputs: [], texts: [{ source: "a.md", text: "# A\n\nMilvus stores data." }] });
      const error = await searchHandler(bad.context, { query: "data", rerank: true }).then(
        () => null,
        (e: unknown) => e as Error,
      );
      expect(error?.message).toMatch(/^search\.rerankModel hf:.*no-such-reranker: the model folder .* does not exist/);
      expect(error?.message).not.toContain("\n");
      expect((await searchHandler(bad.context, { query: "data" })).hits).toHaveLength(1);
    } finally {
      await bad.cleanup();
    }
  });

  it("the CLI's --rerank and --no-rerank override search.rerank", async () => {
    const env = {
      MRAG_STORE: ws.storeDir,
      MRAG_SEARCH_RERANK_MODEL: `hf:${MINILM}`,
      MRAG_SEARCH_RERANK_CANDIDATES: "8",
    };
    const json = async (args: string[], extra: Record<string, string> = {}) => {
      const r = await runMrag(["search", QUERY, "-k", "5", "--json", ...args], {
        cwd: ws.dir,
        env: { ...env, ...extra },
      });
      expect(r.code, r.stderr).toBe(0);
      return (JSON.parse(r.stdout) as SearchOutput).hits.map((h) => h.id);
    };
    const reranked = (await searchHandler(ws.context, { query: QUERY, k: 5, rerank: true })).hits.map((h) => h.id);
    const plain = (await searchHandler(ws.context, { query: QUERY, k: 5, rerank: false })).hits.map((h) => h.id);
    expect(reranked).not.toEqual(plain);
    expect(await json(["--rerank"])).toEqual(reranked);
    expect(await json([], { MRAG_SEARCH_RERANK: "true" })).toEqual(reranked);
    expect(await json(["--no-rerank"], { MRAG_SEARCH_RERANK: "true" })).toEqual(plain);
    const bad = await runMrag(["search", QUERY, "--rerank"], {
      cwd: ws.dir,
      env: { ...env, MRAG_SEARCH_RERANK_MODEL: "hf:/nonexistent/reranker" },
    });
    expect(bad.code).toBe(1);
    expect(bad.stderr.trim().split("\n")).toHaveLength(1);
    expect(bad.stderr).toContain("search.rerankModel");
  }, 300_000);
});

describe("the reranker kind comes from the model's config.json", () => {
  it("a one-label sequence classifier is a cross-encoder (ms-marco-MiniLM-L-6-v2, bge-reranker)", () => {
    const msMarco = { architectures: ["BertForSequenceClassification"], id2label: { "0": "LABEL_0" } };
    expect(rerankerKind("hf:x", msMarco)).toBe("cross-encoder");
    expect(rerankerKind("hf:x", { architectures: ["XLMRobertaForSequenceClassification"], num_labels: 1 })).toBe(
      "cross-encoder",
    );
  });

  it("an encoder without a head, or a sentence-transformers folder, is a bi-encoder", () => {
    expect(rerankerKind("hf:x", { architectures: ["BertModel"] })).toBe("bi-encoder");
    expect(rerankerKind("hf:x", {}, true)).toBe("bi-encoder");
  });

  it("a classifier with several labels, or another head, is refused in one line naming the key", () => {
    const nli = { architectures: ["BertForSequenceClassification"], id2label: { "0": "a", "1": "b", "2": "c" } };
    expect(() => rerankerKind("hf:x", nli)).toThrow(/^search\.rerankModel hf:x: a sequence classifier with 3 labels/);
    expect(() => rerankerKind("hf:x", { architectures: ["BertForMaskedLM"] })).toThrow(/^search\.rerankModel hf:x: /);
  });
});
