import { describe, expect, it } from "vitest";
import { denseWeightFor } from "../../src/tools/search.js";

describe("the hybrid dense weight follows the embedder's measured quality", () => {
  it("gives the static builtin model half of keyword's weight and transformer models an equal one", () => {
    expect(denseWeightFor("builtin")).toBe(0.5);
    expect(denseWeightFor("hf:/models/all-MiniLM-L6-v2")).toBe(1);
    expect(denseWeightFor("hf:Xenova/bge-small-en-v1.5")).toBe(1);
    expect(denseWeightFor("openai:text-embedding-3-small")).toBe(1);
  });
});
