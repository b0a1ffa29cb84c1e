import { describe, expect, it } from "vitest";
import { KEYWORD_ANALYSIS_VERSION, keywordAnalysis, segmentCjk } from "../../src/store/keyword-text.js";
import { dominantScript, scriptCounts } from "../../src/store/scripts.js";

// Sentences from Debian's translated man pages (man-db, shadow): real text, not written for this test.
const ZH = "man 是系统的手册分页程序。指定给 man 的 页 选项通常是程序、工具或函数名。";
const JA = "passwd はユーザアカウント・グループアカウントのパスワードを変更する。";
const KO = "man 은 시스템 설명서 페이저입니다.";

const tokens = (text: string) => segmentCjk(text).split(/\s+/).filter(Boolean);

describe("segmentCjk", () => {
  it("splits Chinese into dictionary words with Node's ICU", () => {
    const out = tokens(ZH);
    expect(out).toEqual(expect.arrayContaining(["系统", "手册", "程序", "选项", "通常", "工具", "函数"]));
    expect(out).toContain("man");
    // Punctuation stays in the text (the index drops it); no token is the whole sentence.
    expect(out.every((t) => [...t].length <= 6)).toBe(true);
  });

  it("splits Japanese with the Japanese dictionary (kana present)", () => {
    const out = tokens(JA);
    expect(out).toEqual(expect.arrayContaining(["ユーザ", "アカウント", "グループ", "パスワード", "変更"]));
    expect(out).toContain("passwd");
  });

  it("turns Korean words into character bigrams so a noun matches without its particle", () => {
    const out = tokens(KO);
    expect(out).toEqual(expect.arrayContaining(["시스", "스템", "설명", "명서", "페이", "이저"]));
    // 시스템 (system) alone, as a query would write it, shares its bigrams with the text.
    expect(tokens("시스템")).toEqual(["시스", "스템"]);
    expect(out).toContain("은"); // a one-letter word stays itself
  });

  it("leaves text without CJK exactly as it was", () => {
    const en = "The chsh command changes the user login shell.";
    expect(segmentCjk(en)).toBe(en);
    expect(segmentCjk("Команда passwd изменяет пароли")).toBe("Команда passwd изменяет пароли");
  });

  it("segments a query the same way as the text, so the words match", () => {
    const query = new Set(tokens("手册的章节"));
    expect(query.has("手册")).toBe(true);
    expect(query.has("章节")).toBe(true);
    expect(tokens("下表显示了手册的 章节 号及其包含的手册页类型。")).toEqual(expect.arrayContaining(["手册", "章节"]));
  });

  it("offers character bigrams for Han and kana", () => {
    expect(segmentCjk("手册页", "bigrams").trim().split(/\s+/)).toEqual(["手册", "册页"]);
  });

  it("keeps legacy collections (version 1) unsegmented, segments from the current version on", () => {
    expect(keywordAnalysis(1)(ZH)).toBe(ZH);
    expect(keywordAnalysis(KEYWORD_ANALYSIS_VERSION)(ZH)).toBe(segmentCjk(ZH));
  });
});

describe("scripts", () => {
  it("counts letters per script and names the dominant one", () => {
    expect(scriptCounts("abc 漢字 かな")).toEqual({ latin: 3, han: 2, kana: 2 });
    expect(dominantScript(ZH)).toBe("han");
    expect(dominantScript(JA)).toBe("kana");
    expect(dominantScript(KO)).toBe("hangul");
    expect(dominantScript("Команда passwd изменяет пароли")).toBe("cyrillic");
    expect(dominantScript("The chsh command changes the user login shell.")).toBe("latin");
    expect(dominantScript("1234 ...")).toBeUndefined();
  });
});
