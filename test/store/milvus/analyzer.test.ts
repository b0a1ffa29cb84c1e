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
    expect(clientAnalysis("mrag-english")("Running")).toBe("run");
    expect(clientAnalysis("english")("Running")).toBe("Running");
    expect(clientAnalysis(undefined)("Running")).toBe("Running");
  });

  it("recognises a server refusing the analyzer, not other errors", () => {
    expect(isUnsupportedAnalyzer("unknown tokenizer type: 'english' (supported: 'standard', 'jieba')")).toBe(true);
    expect(isUnsupportedAnalyzer("exceeded the limit number of collections")).toBe(false);
  });
});
