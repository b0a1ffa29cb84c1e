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

// Paragraphs of Debian's translated man pages (eval/datasets/multilingual-small): real text.
const TEXTS: Record<string, string> = {
  "zh/mandb.md":
    "mandb 用于初始化或手动更新 索引 数据库缓存。缓存包含与手册页系统当前状态相关的信息；保存在缓存中的这些信息被 man-db 工具用来提高速度和增强功能。",
  "zh/passwd.md":
    "由于粗心地或处理选择密码，会危及密码的安全。由于这个原因，您不应该选择出现在词典中或者必须要写下来才能记住的密码。",
  "ja/chsh.md":
    "chsh はユーザのログインシェルを変更する。 これによって、ユーザがログインして最初に実行されるコマンドが決まる。",
  "ja/xxd.md": "ファイルや標準入力から 16 進ダンプを作成します。 16 進ダンプから元のバイナリに戻すこともできます。",
  "ko/killall.md":
    "killall은 지정 명령에 일치하는 모든 실행 프로세스에 시그널을 보냅니다. 지정한 시그널 이름이 없다면 SIGTERM을 보냅니다.",
  "ko/pstree.md":
    "pstree 는 실행 프로세스를 트리 형식으로 나타냅니다. pid 값을 생략하면 pid 또는 init를 뿌리로 둡니다.",
  "en/chsh.md": "The chsh command changes the user login shell.",
};

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
