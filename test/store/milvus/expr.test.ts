import { describe, expect, it } from "vitest";
import { compileSearchFilter, eq, milvusString, prefixSuccessor, startsWith } from "../../../src/store/milvus/expr.js";
import { DEFAULT_FIELD_NAMES } from "../../../src/store/milvus/fields.js";

/**
 * Read a double-quoted literal back the way both servers do: Milvus (C/Go escapes) and Milvus Lite (only
 * \" \' \\ \n \r \t; an unknown escape or a raw newline is a parse error there), other characters as they are.
 */
function unquote(literal: string): string {
  const known: Record<string, string> = { '"': '"', "'": "'", "\\": "\\", n: "\n", r: "\r", t: "\t" };
  const inner = literal.slice(1, -1);
  if (/[\r\n]/.test(inner)) throw new Error(`raw line break in ${literal}`);
  return inner.replace(/\\(.)/gs, (_, c: string) => {
    const mapped = known[c];
    if (mapped === undefined) throw new Error(`escape \\${c} that Milvus Lite rejects in ${literal}`);
    return mapped;
  });
}

describe("Milvus expressions", () => {
  it("string literals escape quotes, backslashes and control characters, and read back to the same value", () => {
    for (const value of [
      'a" or 1==1 or "',
      "back\\slash",
      'x\\" or true or \\"',
      "line\nbreak\t\u0000",
      "bell\u0007 escape\u001b del\u007f\r",
      "ünï😀",
      "'single'",
    ]) {
      const literal = milvusString(value);
      expect(literal.startsWith('"') && literal.endsWith('"')).toBe(true);
      // No unescaped quote inside: every inner " is preceded by an odd number of backslashes.
      const inner = literal.slice(1, -1);
      for (const m of inner.matchAll(/(\\*)"/g)) expect(m[1]!.length % 2).toBe(1);
      expect(unquote(literal)).toBe(value);
    }
  });

  it("a lone surrogate becomes U+FFFD instead of an escape Milvus would reject", () => {
    expect(unquote(milvusString("a\uD800b"))).toBe("a\uFFFDb");
    expect(milvusString("a\uD800b")).not.toMatch(/\\ud800/i);
  });

  it("a hostile source id stays one literal in an equality", () => {
    expect(eq("source", 'a" or 1==1 or "')).toBe('source == "a\\" or 1==1 or \\""');
  });

  it("prefix successor bounds exactly the strings that start with the prefix (byte order = code point order)", () => {
    const prefix = "docs/a%_b";
    const upper = prefixSuccessor(prefix)!;
    expect(upper).toBe("docs/a%_c");
    const inRange = (s: string) =>
      Buffer.compare(Buffer.from(s), Buffer.from(prefix)) >= 0 &&
      Buffer.compare(Buffer.from(s), Buffer.from(upper)) < 0;
    for (const s of ["docs/a%_b", "docs/a%_b/x.md", "docs/a%_b\u{10FFFF}", "docs/a%_bé"]) expect(inRange(s)).toBe(true);
    for (const s of ["docs/a%_a", "docs/a%_c", "docs/aXXb", "docs/a%", "docs/a%_c/x"]) expect(inRange(s)).toBe(false);
    expect(prefixSuccessor("a\uD7FF")).toBe("a\uE000");
    expect(prefixSuccessor("a\u{10FFFF}")).toBe("b");
    expect(prefixSuccessor("\u{10FFFF}")).toBeUndefined();
  });

  it("startsWith uses a range, never LIKE, and an empty prefix filters nothing", () => {
    expect(startsWith("source", "docs/%")).toBe('source >= "docs/%" and source < "docs/&"');
    expect(startsWith("source", "")).toBeUndefined();
  });

  it("the structured filter compiles every part with escaped values and the mapped field names", () => {
    const fields = { ...DEFAULT_FIELD_NAMES, source: "path", tags: "labels" };
    expect(compileSearchFilter({ sourcePrefix: "d/", tags: ['x"y'], fileTypes: ["markdown", "pdf"] }, fields)).toBe(
      '(path >= "d/" and path < "d0") and (array_contains_any(labels, ["x\\"y"])) and (file_type in ["markdown", "pdf"])',
    );
    expect(compileSearchFilter(undefined, fields)).toBeUndefined();
  });
});
