import { describe, expect, it } from "vitest";
import { UsageError } from "../../src/errors.js";
import { and, compileSearchFilter, eq, inList, sqlString, startsWith } from "../../src/store/embedded/filter.js";

describe("LanceDB filter compilation", () => {
  it("quotes strings by doubling single quotes and nothing else", () => {
    expect(sqlString("plain")).toBe("'plain'");
    expect(sqlString("a' OR 1=1 --")).toBe("'a'' OR 1=1 --'");
    expect(sqlString("back\\slash")).toBe("'back\\slash'");
    expect(sqlString("100%_done")).toBe("'100%_done'");
    expect(() => sqlString("nul\u0000")).toThrow(UsageError);
  });

  it("builds equality, IN, literal prefix and AND clauses", () => {
    expect(eq("source", "it's")).toBe("source = 'it''s'");
    expect(inList("source", ["a", "b'c"])).toBe("source IN ('a', 'b''c')");
    expect(inList("source", [])).toBe("false");
    expect(startsWith("source", "docs/100%_")).toBe("starts_with(source, 'docs/100%_')");
    expect(startsWith("source", "")).toBe("true");
    expect(and([undefined, "x = 1", ""])).toBe("x = 1");
    expect(and(["a", "b"])).toBe("(a) AND (b)");
    expect(and([])).toBeUndefined();
  });

  it("compiles the structured search filter", () => {
    expect(compileSearchFilter(undefined)).toBeUndefined();
    expect(compileSearchFilter({})).toBeUndefined();
    expect(compileSearchFilter({ sourcePrefix: "docs/", tags: ["a", "b'"], fileTypes: ["markdown", "code"] })).toBe(
      "(starts_with(source, 'docs/')) AND (array_has_any(tags, ['a', 'b'''])) AND (file_type IN ('markdown', 'code'))",
    );
  });
});
