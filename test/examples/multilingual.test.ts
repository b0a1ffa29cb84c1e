/**
 * examples/multilingual: the man-page reader that built it (scripts/multilingual-eval/roff.ts) and the set
 * itself, loaded the way `mrag eval retrieval` loads it: every question has one gold paragraph in its language.
 */
import { readFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { joinLines, parseManPage, unroff } from "../../scripts/multilingual-eval/roff.js";
import { loadDataset } from "../../src/eval/datasets.js";
import { dominantScript } from "../../src/store/scripts.js";
import { REPO_ROOT } from "../helpers/workspace.js";

const SET = path.join(REPO_ROOT, "examples", "multilingual");

describe("the man page reader", () => {
  it("resolves escapes and drops font changes", () => {
    expect(unroff("\\fBmandb\\fP \\-c \\(em \\fIfile\\fR\\&.")).toBe("mandb -c — file.");
    expect(unroff("转义(\\e)，以防")).toBe("转义(\\)，以防");
    expect(unroff('text \\" a comment')).toBe("text ");
  });

  it("joins Chinese and Japanese lines without a space, Korean and Latin ones with one", () => {
    expect(joinLines("缓存包含与手册页", "系统当前状态")).toBe("缓存包含与手册页系统当前状态");
    expect(joinLines("정확히 일치하는", "검색어")).toBe("정확히 일치하는 검색어");
    expect(joinLines("index", "database")).toBe("index database");
  });

  it("splits a page into paragraphs under their headings, with a tag kept apart from its body", () => {
    const page = parseManPage(
      [
        '.\\" comment',
        ".TH MANDB 8 2023-01-08 2.11.2",
        ".SH 名称",
        "mandb \\- 创建或更新手册页索引缓存",
        ".SH 选项",
        ".TP ",
        ".if  !'po4a'hide' .BR \\-u \", \" \\-\\-user\\-db",
        "只创建用户数据库，",
        "即使有写权限。",
        ".SS 表",
        ".TS",
        "tab (@);",
        "l l.",
        "名称@异步",
        "_",
        "Berkeley db@是",
        ".TE",
        "",
        "第二段。",
      ].join("\n"),
    );
    expect(page.title).toBe("mandb(8)");
    expect(page.paragraphs).toEqual([
      { section: "名称", text: "mandb - 创建或更新手册页索引缓存" },
      { section: "选项", text: "-u, --user-db 只创建用户数据库，即使有写权限。" },
      { section: "选项 / 表", text: "名称 | 异步; Berkeley db | 是;" },
      { section: "选项 / 表", text: "第二段。" },
    ]);
  });
});

describe.each([
  ["zh", "han"],
  ["ja", "kana"],
  ["ko", "hangul"],
] as const)("examples/multilingual/%s", (lang, script) => {
  it("loads as an eval dataset whose every question has one gold paragraph in the language", async () => {
    const dataset = await loadDataset(path.join(SET, lang));
    expect(dataset.questions).toHaveLength(18);
    expect(dataset.documents.length).toBeGreaterThan(200);
    const bySource = new Map(dataset.documents.map((d) => [d.source, d]));
    for (const question of dataset.questions) {
      expect(question.gold).toHaveLength(1);
      const gold = bySource.get(question.gold[0]!);
      expect(gold, question.id).toBeDefined();
      expect(dominantScript(question.question)).toBe(script);
    }
  });

  it("names the package and version of every page it was built from", () => {
    const sources = JSON.parse(readFileSync(path.join(SET, "sources.json"), "utf8")) as {
      lang: string;
      package: string;
      version: string;
      sha256: string;
      paragraphs: number;
    }[];
    const mine = sources.filter((s) => s.lang === lang);
    const corpus = JSON.parse(readFileSync(path.join(SET, lang, "corpus.json"), "utf8")) as unknown[];
    expect(mine.reduce((n, s) => n + s.paragraphs, 0)).toBe(corpus.length);
    for (const s of mine) {
      expect(s.version).not.toBe("");
      expect(s.sha256).toMatch(/^[0-9a-f]{64}$/);
      expect(readFileSync(path.join(SET, "copyright", `${s.package}.copyright`), "utf8")).toContain("Copyright");
    }
  });
});
