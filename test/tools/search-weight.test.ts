import { describe, expect, it } from "vitest";
import { latinShare } from "../../src/store/scripts.js";
import { denseWeightFor, queryDenseWeight } from "../../src/tools/search.js";

describe("the hybrid dense weight follows the embedder's measured quality", () => {
  it("gives the static builtin model half of keyword's weight and transformer models an equal one", () => {
    expect(denseWeightFor("builtin")).toBe(0.5);
    expect(denseWeightFor("hf:/models/all-MiniLM-L6-v2")).toBe(1);
    expect(denseWeightFor("hf:Xenova/bge-small-en-v1.5")).toBe(1);
    expect(denseWeightFor("openai:text-embedding-3-small")).toBe(1);
  });
});

describe("the builtin model's dense weight counts for the share of the query it can read", () => {
  it("measures the Latin share of a query's letters, a CJK letter weighing three Latin ones", () => {
    expect(latinShare("How is data stored in Milvus?")).toBe(1);
    expect(latinShare("Où sont stockées les données ?")).toBe(1);
    expect(latinShare("12 + 7 = ?")).toBe(1);
    expect(latinShare("数据库类型")).toBe(0);
    // "mandb" (5 Latin letters) next to 10 Han letters counted three times each.
    expect(latinShare("mandb 支持哪几种数据库类型？")).toBeCloseTo(5 / 35, 10);
    expect(latinShare("한국어 질문")).toBe(0);
  });

  it("scales the builtin weight, configured or not, and leaves other models' weight alone", () => {
    expect(queryDenseWeight("builtin", undefined, "How is data stored?")).toBe(0.5);
    expect(queryDenseWeight("builtin", 2, "How is data stored?")).toBe(2);
    expect(queryDenseWeight("builtin", undefined, "mandb 支持哪几种数据库类型？")).toBeCloseTo(0.5 * (5 / 35), 10);
    expect(queryDenseWeight("builtin", undefined, "数据库类型")).toBe(0);
    expect(queryDenseWeight("hf:Xenova/multilingual-e5-small", undefined, "数据库类型")).toBe(1);
    expect(queryDenseWeight("openai:bge-m3", 0.7, "数据库类型")).toBe(0.7);
  });
});
