/**
 * CJK keyword search on a real Milvus Lite server: its only tokenizer (`standard`) keeps a run of Han or kana
 * as one token, so mrag segments Chinese, Japanese and Korean itself before the text and the queries reach
 * the server (analyzer.ts), and records that in the collection's `mrag.keyword_analysis` property.
 */
import { afterEach, beforeEach, expect, it } from "vitest";
import { KEYWORD_ANALYSIS_VERSION } from "../../../src/store/keyword-text.js";
import { KEYWORD_ANALYSIS_PROPERTY } from "../../../src/store/milvus/analyzer.js";
import { type MilvusStore, milvusCollectionName, openMilvusStore } from "../../../src/store/milvus/store.js";
import type { Collection } from "../../../src/store/types.js";
import { adminClient, freshDatabase, useMilvusLite } from "../../helpers/milvus-lite-suite.js";
import { makeChunk, vectorFor } from "../../store-contract/fixtures.js";
import { CJK_TEXTS } from "../cjk-texts.js";

const DIM = 8;
const MODEL = "test:cjk@1";
const lite = useMilvusLite("CJK keyword search (Milvus Lite)");

let db: Awaited<ReturnType<typeof freshDatabase>>;
let store: MilvusStore | undefined;

async function open(): Promise<Collection> {
  store = await openMilvusStore({ uri: lite.server().uri, database: db.database, timeoutMs: 15_000 });
  return store.openCollection("docs", { modelId: MODEL, dimension: DIM, create: true });
}

async function fill(collection: Collection): Promise<void> {
  await collection.replaceSources(
    Object.entries(CJK_TEXTS).map(([source, text]) => ({ source, chunks: [makeChunk(source, 0, DIM, { text })] })),
  );
}

async function keyword(collection: Collection, text: string): Promise<string[]> {
  return (await collection.search({ mode: "keyword", k: 3, text })).map((h) => h.chunk.source);
}

if (lite.available) {
  beforeEach(async () => {
    db = await freshDatabase(lite.server().uri);
  });
  afterEach(async () => {
    await store?.close();
    store = undefined;
    await db.cleanup();
  });

  it("finds Chinese, Japanese and Korean passages by words written without spaces", async () => {
    const collection = await open();
    expect(collection.meta.keywordAnalysis).toBe(KEYWORD_ANALYSIS_VERSION);
    await fill(collection);
    expect((await keyword(collection, "数据库缓存怎么更新"))[0]).toBe("zh/mandb.md");
    expect((await keyword(collection, "密码的安全"))[0]).toBe("zh/passwd.md");
    expect((await keyword(collection, "ログインシェルを変更するには"))[0]).toBe("ja/chsh.md");
    expect((await keyword(collection, "16 進ダンプを作る"))[0]).toBe("ja/xxd.md");
    expect((await keyword(collection, "시그널 보내기"))[0]).toBe("ko/killall.md");
    expect((await keyword(collection, "프로세스 트리"))[0]).toBe("ko/pstree.md");
    // English keeps its stemming ("changes" ~ "changing").
    expect(await keyword(collection, "changing login shell")).toContain("en/chsh.md");
    const hybrid = await collection.search({ mode: "hybrid", k: 3, text: "数据库缓存", vector: vectorFor("q", DIM) });
    expect(hybrid.map((h) => h.chunk.source)).toContain("zh/mandb.md");
  }, 60_000);

  it("keeps a collection made before segmentation consistent, and makes it again once emptied", async () => {
    let collection = await open();
    // Not empty, or reopening would make it again at once.
    await collection.replaceSources([
      { source: "en/chsh.md", chunks: [makeChunk("en/chsh.md", 0, DIM, { text: CJK_TEXTS["en/chsh.md"] })] },
    ]);
    await store!.close();
    // What an earlier mrag made: no keyword analysis property.
    const admin = adminClient(lite.server().uri, undefined, db.database);
    await admin.dropCollectionProperties({
      collection_name: milvusCollectionName("docs"),
      properties: [KEYWORD_ANALYSIS_PROPERTY],
    });
    await admin.closeConnection();

    collection = await open();
    expect(collection.meta.keywordAnalysis).toBe(1);
    await fill(collection);
    // Written and queried unsegmented: a whole Chinese run is one token, so a word inside it is not found,
    // while English and space-separated Korean words still are.
    expect(await keyword(collection, "手册页系统")).toEqual([]);
    expect(await keyword(collection, "changing login shell")).toContain("en/chsh.md");

    await collection.deleteSources({ prefix: "" });
    await store!.close();
    collection = await open();
    expect(collection.meta.keywordAnalysis).toBe(KEYWORD_ANALYSIS_VERSION);
    await fill(collection);
    expect((await keyword(collection, "手册页系统"))[0]).toBe("zh/mandb.md");
  }, 60_000);
}
