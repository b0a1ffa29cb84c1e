import { describe, expect, it } from "vitest";
import { analyzeEnglish, clientAnalysis, isUnsupportedAnalyzer } from "../../../src/store/milvus/analyzer.js";

describe("Milvus analyzer fallback", () => {
  it("mrag's English analysis lowercases, folds accents, drops stop words and stems like the english analyzer", () => {
    expect(analyzeEnglish("The Indexes are BUILDING; café naïve")).toBe("index build cafe naiv");
    expect(analyzeEnglish("Guide > Section 4\nindex building gpu number3x4")).toBe(
      "guid section 4 index build gpu number3x4",
    );
    // Query syntax is not syntax here: only words survive.
    expect(analyzeEnglish('etcd" OR 1=1 -- * \\ +-&&||!^~?')).toBe("etcd 1 1");
    expect(analyzeEnglish("the and of")).toBe("");
  });

  it("only collections recorded as mrag-english are analysed client-side", () => {
    for (const version of [1, 2]) {
      expect(clientAnalysis("mrag-english", version)("Running")).toBe("run");
      expect(clientAnalysis("english", version)("Running")).toBe("Running");
      expect(clientAnalysis(undefined, version)("Running")).toBe("Running");
    }
  });

  it("segments Chinese, Japanese and Korean from keyword analysis 2 on, in mrag's own collections", () => {
    expect(clientAnalysis("mrag-english", 2)("手册页系统当前状态 Running")).toBe("手册 页 系统 当前 状态 run");
    expect(clientAnalysis("english", 2)("密码的安全").trim().split(/\s+/)).toEqual(["密码", "的", "安全"]);
    // Korean: bigrams of each word, syllables kept whole (not NFKD jamo); kana keep their voicing marks.
    expect(clientAnalysis("mrag-english", 2)("시그널을")).toBe("시그 그널 널을");
    expect(clientAnalysis("mrag-english", 2)("ガス")).toBe("ガス");
    expect(clientAnalysis("mrag-english", 2)("café")).toBe("cafe");
    // Before it (and in collections mrag did not create), the text is left as it was written.
    expect(clientAnalysis("english", 1)("缓存包含信息")).toBe("缓存包含信息");
    expect(clientAnalysis(undefined, 2)("缓存包含信息")).toBe("缓存包含信息");
    expect(clientAnalysis("mrag-english", 1)("缓存包含信息")).toBe("缓存包含信息");
  });

  it("recognises a server refusing the analyzer, not other errors", () => {
    expect(isUnsupportedAnalyzer("unknown tokenizer type: 'english' (supported: 'standard', 'jieba')")).toBe(true);
    expect(isUnsupportedAnalyzer("exceeded the limit number of collections")).toBe(false);
  });
});
