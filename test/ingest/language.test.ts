import { mkdirSync, writeFileSync } from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { emptyLanguageCounts, languageWarning } from "../../src/ingest/language.js";
import type { IngestSummary } from "../../src/ingest/sync.js";
import { ingestTool, runIngest, toIngestOutput } from "../../src/tools/ingest.js";
import { searchHandler } from "../../src/tools/search.js";
import { runMrag } from "../helpers/cli.js";
import { makeWorkspace, type Workspace } from "../helpers/workspace.js";

// Paragraphs of Debian's Chinese and Japanese man pages (man-db, passwd, shadow's chsh, vim's xxd; the first
// three are also in examples/multilingual), and one English note.
const FILES: Record<string, string> = {
  "zh-mandb.md":
    "# 索引\n\nmandb 用于初始化或手动更新 索引 数据库缓存。缓存包含与手册页系统当前状态相关的信息；保存在缓存中的这些信息被 man-db 工具用来提高速度和增强功能。\n",
  "zh-passwd.md":
    "# 密码\n\n由于粗心地或处理选择密码，会危及密码的安全。由于这个原因，您不应该选择出现在词典中或者必须要写下来才能记住的密码。密码也不应该是一个名字、许可证号、生日或者街道号。\n",
  "zh-man.md":
    "# 手册\n\n经过格式化的手册页将使用一个分页器进行显示。有数种指定分页显示的方法，若无指定则将使用默认方式。\n",
  "ja-chsh.md":
    "# ログインシェル\n\nユーザのログインシェルを変更する。 これによって、ユーザがログインして最初に実行されるコマンドが決まる。 一般ユーザは自分のアカウントのログインシェルのみを変更できる。\n",
  "ja-xxd.md":
    "# 16 進ダンプ\n\nファイルや標準入力から 16 進ダンプを作成します。 16 進ダンプから元のバイナリに戻すこともできます。\n",
  "en-notes.md":
    "# Shells\n\nThe chsh command changes the login shell of a user account; the shell must be listed in /etc/shells.\n",
};

/** Chinese with no Latin letter: nothing the English builtin model has a word for. */
const ZH_QUERY = "数据库缓存怎么更新";

function writeDocs(ws: Workspace): void {
  mkdirSync(ws.docs, { recursive: true });
  for (const [name, text] of Object.entries(FILES)) writeFileSync(path.join(ws.docs, name), text);
}

describe("ingesting Chinese and Japanese text with the English builtin model", () => {
  let ws: Workspace;
  let summary: IngestSummary;

  beforeAll(async () => {
    ws = makeWorkspace({ copyFaq: false });
    writeDocs(ws);
    summary = await runIngest(ws.context, { inputs: [ws.docs] });
  }, 60_000);
  afterAll(async () => {
    await ws.cleanup();
  });

  it("counts the chunks by script and warns once, naming the multilingual embedder to use", () => {
    expect(summary.added).toHaveLength(6);
    expect(summary.languages.chunks).toBe(summary.chunksWritten);
    expect(summary.languages.byScript).toEqual({ han: 3, kana: 2 });
    // The kana/Han chunks with no Latin word at all have no direction for the builtin model.
    expect(summary.languages.withoutDirection).toBeGreaterThanOrEqual(3);
    expect(summary.warnings).toHaveLength(1);
    const [warning] = summary.warnings;
    expect(warning).toMatch(/^5 of 6 chunks written \(83%\) are not in English \(3 Chinese, 2 Japanese\)/);
    expect(warning).toContain("builtin embedding model is English-only");
    expect(warning).toContain("--embedder hf:<folder of multilingual-e5-small or bge-m3>");
  });

  it("puts the warning in the MCP ingest tool's result, structured and as text", () => {
    const output = toIngestOutput(summary);
    expect(output.warnings).toEqual(summary.warnings);
    expect(ingestTool.render(output)).toContain(`\nwarning: ${summary.warnings[0]}`);
  });

  it("answers a dense query the model has no word for with no hits and a note, not an arbitrary order", async () => {
    const dense = await searchHandler(ws.context, { query: ZH_QUERY, mode: "dense" });
    expect(dense.hits).toEqual([]);
    expect(dense.note).toContain("knows none of the query's words");
    expect(dense.note).toContain('mode "keyword" or "hybrid"');
  });

  it("ranks such a hybrid query by keywords alone, exactly as keyword search does", async () => {
    const keyword = await searchHandler(ws.context, { query: ZH_QUERY, mode: "keyword" });
    const hybrid = await searchHandler(ws.context, { query: ZH_QUERY, mode: "hybrid" });
    expect(keyword.hits[0]?.source).toBe("docs/zh-mandb.md");
    expect(hybrid.hits.map((h) => [h.id, h.score])).toEqual(keyword.hits.map((h) => [h.id, h.score]));
    expect(hybrid.note).toContain("ranked by keywords only");
    expect(keyword.note).toBeUndefined();
  });

  it("keeps dense search working for English next to the chunks without direction", async () => {
    const dense = await searchHandler(ws.context, { query: "change my login shell", mode: "dense", k: 6 });
    expect(dense.hits[0]?.source).toBe("docs/en-notes.md");
    expect(dense.note).toBeUndefined();
    for (const hit of dense.hits) expect(Number.isFinite(hit.score)).toBe(true);
    // A chunk with the zero vector scores 0: it can never outrank a chunk that shares a word with the query.
    expect(dense.hits[0]!.score).toBeGreaterThan(0);
  });
});

describe("the CLI says it on stderr", () => {
  let ws: Workspace;
  beforeAll(() => {
    ws = makeWorkspace({ copyFaq: false });
    writeDocs(ws);
  });
  afterAll(async () => {
    await ws.cleanup();
  });

  it("prints the warning on ingest and the note on a dense search without a known word", async () => {
    const ingest = await runMrag(["ingest", "docs", "--store", ws.storeDir], { cwd: ws.dir });
    expect(ingest.code).toBe(0);
    expect(ingest.stdout).toMatch(/^6 added/);
    expect(ingest.stderr).toMatch(/mrag warning: 5 of 6 chunks written \(83%\) are not in English/);
    expect(ingest.stderr).toContain("--embedder hf:<folder of multilingual-e5-small or bge-m3>");
    const search = await runMrag(["search", ZH_QUERY, "--mode", "dense", "--store", ws.storeDir], { cwd: ws.dir });
    expect(search.code).toBe(0);
    expect(search.stdout).toMatch(/^no hits: The embedding model knows none of the query's words/);
    const english = await runMrag(["ingest", "docs", "--store", ws.storeDir], { cwd: ws.dir });
    // Nothing written the second time: nothing to warn about.
    expect(english.stdout).toMatch(/6 unchanged/);
    expect(english.stderr).not.toContain("mrag warning");
  }, 60_000);
});

describe("languageWarning", () => {
  const chinese = { ...emptyLanguageCounts(), chunks: 10, byScript: { han: 4 }, withoutDirection: 2 };

  it("is silent for English text, and for non-English text with a model that embedded all of it", () => {
    expect(languageWarning({ ...emptyLanguageCounts(), chunks: 7 }, { embedder: "builtin" })).toBeUndefined();
    expect(
      languageWarning({ ...chinese, withoutDirection: 0 }, { embedder: "hf:/models/multilingual-e5-small" }),
    ).toBeUndefined();
  });

  it("leaves a few foreign chunks among many English ones to the builtin model, naming only those it could not embed", () => {
    const few = { ...emptyLanguageCounts(), chunks: 100, byScript: { han: 4 }, withoutDirection: 0 };
    expect(languageWarning(few, { embedder: "builtin" })).toBeUndefined();
    expect(languageWarning({ ...few, byScript: { han: 5, hangul: 1 } }, { embedder: "builtin" })).toMatch(
      /^6 of 100 chunks written \(6%\) are not in English \(5 Chinese, 1 Korean\)/,
    );
    expect(languageWarning({ ...few, withoutDirection: 3 }, { embedder: "builtin" })).toBe(
      "3 of 100 chunks had no word the embedding model builtin knows: they get no dense ranking, only keyword " +
        "search finds them",
    );
  });

  it("names the chunks no model could embed, whatever the model", () => {
    expect(languageWarning(chinese, { embedder: "openai:text-embedding-3-small" })).toBe(
      "2 of 10 chunks had no word the embedding model openai:text-embedding-3-small knows: they get no dense " +
        "ranking, only keyword search finds them",
    );
  });

  it("tells a collection from before CJK segmentation how to get it", () => {
    const warning = languageWarning(chinese, { embedder: "hf:/m", keywordAnalysis: 1 });
    expect(warning).toContain("does not segment Chinese, Japanese or Korean");
    expect(warning).toContain("mrag delete --all --yes");
    expect(languageWarning({ ...chinese, withoutDirection: 0 }, { embedder: "hf:/m", keywordAnalysis: 2 })).toBe(
      undefined,
    );
  });
});
