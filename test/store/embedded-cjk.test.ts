import { mkdtemp, readFile, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { EmbeddedCollection } from "../../src/store/embedded/collection.js";
import { MARKER_FILE } from "../../src/store/embedded/marker.js";
import { stringColumn } from "../../src/store/embedded/schema.js";
import { type EmbeddedStore, openEmbeddedStore } from "../../src/store/embedded/store.js";
import { KEYWORD_ANALYSIS_VERSION } from "../../src/store/keyword-text.js";
import { makeChunk } from "../store-contract/fixtures.js";
import { CJK_TEXTS as TEXTS } from "./cjk-texts.js";
import { removeDir } from "./embedded-helpers.js";

const DIM = 8;
const MODEL = "test:cjk@1";
let dir: string;
let store: EmbeddedStore | undefined;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "mrag-cjk-"));
});
afterEach(async () => {
  await store?.close();
  store = undefined;
  await removeDir(dir);
});

async function openDocs(from: EmbeddedStore): Promise<EmbeddedCollection> {
  return (await from.openCollection("docs", { modelId: MODEL, dimension: DIM, create: true })) as EmbeddedCollection;
}

async function fill(collection: EmbeddedCollection): Promise<void> {
  await collection.replaceSources(
    Object.entries(TEXTS).map(([source, text]) => ({ source, chunks: [makeChunk(source, 0, DIM, { text })] })),
  );
}

async function keyword(collection: EmbeddedCollection, text: string): Promise<string[]> {
  return (await collection.search({ mode: "keyword", k: 3, text })).map((h) => h.chunk.source);
}

async function searchText(collection: EmbeddedCollection): Promise<string[]> {
  return stringColumn(await collection.lanceTable.query().select(["search_text"]).toArrow(), "search_text");
}

describe("CJK keyword search in the embedded store", () => {
  it("finds Chinese, Japanese and Korean passages by words written without spaces", async () => {
    store = await openEmbeddedStore(dir);
    const collection = await openDocs(store);
    expect(collection.meta.keywordAnalysis).toBe(KEYWORD_ANALYSIS_VERSION);
    await fill(collection);
    expect((await keyword(collection, "数据库缓存怎么更新"))[0]).toBe("zh/mandb.md");
    expect((await keyword(collection, "密码的安全"))[0]).toBe("zh/passwd.md");
    expect((await keyword(collection, "ログインシェルを変更するには"))[0]).toBe("ja/chsh.md");
    expect((await keyword(collection, "16 進ダンプを作る"))[0]).toBe("ja/xxd.md");
    // 시그널 (signal) without the particle the text attaches to it elsewhere; 프로세스를 트리 (process tree).
    expect((await keyword(collection, "시그널 보내기"))[0]).toBe("ko/killall.md");
    expect((await keyword(collection, "프로세스 트리"))[0]).toBe("ko/pstree.md");
    // English keeps its analysis (stemming: "changes" ~ "changing").
    expect(await keyword(collection, "changing login shell")).toContain("en/chsh.md");
    const marker = JSON.parse(await readFile(join(dir, MARKER_FILE), "utf8"));
    expect(marker.collections.docs.keywordAnalysis).toBe(KEYWORD_ANALYSIS_VERSION);
  });

  it("keeps a collection made before segmentation consistent, and upgrades it once emptied", async () => {
    store = await openEmbeddedStore(dir);
    const first = await store.openCollection("docs", { modelId: MODEL, dimension: DIM, create: true });
    // An English row reads the same under both analyses.
    await first.replaceSources([
      { source: "en/chsh.md", chunks: [makeChunk("en/chsh.md", 0, DIM, { text: TEXTS["en/chsh.md"] })] },
    ]);
    await store.close();
    // What an earlier mrag wrote: no keywordAnalysis in the marker.
    const markerFile = join(dir, MARKER_FILE);
    const marker = JSON.parse(await readFile(markerFile, "utf8"));
    delete marker.collections.docs.keywordAnalysis;
    await writeFile(markerFile, JSON.stringify(marker), "utf8");

    store = await openEmbeddedStore(dir);
    let collection = await openDocs(store);
    expect(collection.meta.keywordAnalysis).toBe(1);
    await fill(collection);
    // Rows are written as before (unsegmented), and queries are analysed the same way, so what matched still does.
    expect(await searchText(collection)).toContain(TEXTS["zh/mandb.md"]);
    expect(await keyword(collection, "changing login shell")).toContain("en/chsh.md");
    expect(JSON.parse(await readFile(markerFile, "utf8")).collections.docs.keywordAnalysis).toBeUndefined();

    await collection.deleteSources({ prefix: "" });
    await store.close();
    store = await openEmbeddedStore(dir);
    collection = await openDocs(store);
    expect(collection.meta.keywordAnalysis).toBe(KEYWORD_ANALYSIS_VERSION);
    await fill(collection);
    expect((await keyword(collection, "数据库缓存怎么更新"))[0]).toBe("zh/mandb.md");
  });
});
