import path from "node:path";
import { describe, expect, it } from "vitest";
import { chunkDocument, DEFAULT_CHUNKING } from "../../src/ingest/chunk/index.js";
import { isSkipped, loadFile } from "../../src/ingest/loaders/index.js";
import type { ChunkingOptions, LoadedDocument, TextChunk } from "../../src/ingest/types.js";
import { asDoc, checkChunkInvariants, INGEST_FIXTURES } from "./helpers.js";

async function fixtureDoc(rel: string): Promise<LoadedDocument> {
  const result = await loadFile(path.join(INGEST_FIXTURES, rel), rel);
  if (isSkipped(result)) throw new Error(`${rel} skipped: ${result.reason}`);
  return result;
}

function chunks(doc: LoadedDocument, options: ChunkingOptions = DEFAULT_CHUNKING): TextChunk[] {
  const out = chunkDocument(doc, options);
  checkChunkInvariants(doc, out, options.maxChars);
  return out;
}

const SMALL: ChunkingOptions = { maxChars: 300, overlapChars: 40, minChars: 100 };

describe("code", () => {
  it("TypeScript: definitions with their doc comments, a big class split at its members", async () => {
    const doc = await fixtureDoc("code/search.ts");
    const out = chunks(doc, SMALL);
    expect(out.map((c) => [c.headingPath, c.lineStart, c.lineEnd])).toEqual([
      [[], 1, 9],
      [["score"], 11, 21],
      [["Index", "add"], 23, 28],
      [["Index", "search"], 30, 37],
      [["hashOf"], 39, 39],
    ]);
    expect(out[1]!.text.startsWith("/**\n * Score a document against a query.")).toBe(true);
    // With the defaults the small file is grouped into few chunks.
    expect(chunks(doc).length).toBeLessThanOrEqual(2);
  });

  it("Python: decorators stay with their function, classes split at methods", async () => {
    const doc = await fixtureDoc("code/tokenize.py");
    const out = chunks(doc, { maxChars: 200, overlapChars: 20, minChars: 60 });
    const count = out.find((c) => c.text.includes("def count"))!;
    expect(count.text.startsWith("@staticmethod\ndef count(text):")).toBe(true);
    expect(count.headingPath).toEqual(["count"]);
    expect(out.some((c) => c.headingPath.join(".") === "Vocabulary.add" || c.headingPath[0] === "Vocabulary")).toBe(
      true,
    );
    expect(out.find((c) => c.text.includes("def tokenize"))!.headingPath).toContain("tokenize");
  });

  it("Go: comments stay with types and methods", async () => {
    const doc = await fixtureDoc("code/main.go");
    const out = chunks(doc, { maxChars: 120, overlapChars: 0, minChars: 0 });
    expect(out.map((c) => c.headingPath)).toEqual([[], ["Point"], ["Norm"], ["main"]]);
    expect(out[2]!.text.startsWith("// Norm returns the squared length.\nfunc (p Point) Norm()")).toBe(true);
  });

  it("splits an oversized function by lines, each piece within the limit", () => {
    const body = Array.from({ length: 200 }, (_, i) => `  total += values[${i}] * ${i};`).join("\n");
    const doc = asDoc(
      `export function sum(values: number[]): number {\n  let total = 0;\n${body}\n  return total;\n}\n`,
      "code",
      "typescript",
    );
    const out = chunks(doc, { maxChars: 500, overlapChars: 60, minChars: 100 });
    expect(out.length).toBeGreaterThan(10);
    for (const c of out) {
      expect(c.headingPath).toEqual(["sum"]);
      // Pieces start and end on whole lines.
      expect(c.text).toMatch(/^(export function| {2})/);
    }
    // Consecutive pieces overlap by whole lines.
    expect(out[1]!.lineStart).toBeLessThanOrEqual(out[0]!.lineEnd);
  });

  it("Java: a class larger than the limit is split at its methods", () => {
    const methods = Array.from(
      { length: 8 },
      (_, i) =>
        `    /** Method ${i}. */\n    @Override\n    public int method${i}(int x) {\n${"        x = x * 31 + 7;\n".repeat(6)}        return x;\n    }\n`,
    ).join("\n");
    const doc = asDoc(
      `package demo;\n\nimport java.util.List;\n\n/**\n * Demo class.\n */\npublic class Demo {\n${methods}}\n`,
      "code",
      "java",
    );
    const out = chunks(doc, { maxChars: 400, overlapChars: 40, minChars: 50 });
    const names = out.map((c) => c.headingPath.join("."));
    for (let i = 0; i < 8; i++) expect(names).toContain(`Demo.method${i}`);
    const m3 = out.find((c) => c.headingPath.join(".") === "Demo.method3")!;
    expect(m3.text.startsWith("    /** Method 3. */\n    @Override\n    public int method3")).toBe(true);
  });

  it("C, Rust, SQL, CSS, shell: names of top-level definitions", () => {
    const cases: [string, string, string[]][] = [
      [
        "c",
        "#include <stdio.h>\n\nstatic int add(int a, int b)\n{\n    return a + b;\n}\n\nstruct point {\n    int x;\n};\n",
        ["add", "point"],
      ],
      [
        "rust",
        "use std::fmt;\n\n/// A point.\n#[derive(Debug)]\npub struct Point { x: i32 }\n\nimpl fmt::Display for Point {\n    fn fmt(&self) {}\n}\n\npub async fn run() {}\n",
        ["Point", "fmt::Display for Point", "run"],
      ],
      [
        "sql",
        "-- users\nCREATE TABLE IF NOT EXISTS users (id int);\n\nCREATE OR REPLACE VIEW active AS SELECT 1;\n",
        ["users", "active"],
      ],
      [
        "css",
        "/* buttons */\n.btn {\n  color: red;\n}\n\n@media (max-width: 600px) {\n  .btn { color: blue; }\n}\n",
        [".btn", "@media (max-width: 600px)"],
      ],
      [
        "shell",
        "#!/bin/sh\nset -e\n\n# greet someone\ngreet() {\n  echo hi\n}\n\nfunction main {\n  greet\n}\n",
        ["greet", "main"],
      ],
    ];
    for (const [language, text, expected] of cases) {
      const out = chunks(asDoc(text, "code", language), { maxChars: 60, overlapChars: 0, minChars: 0 });
      const names = out.flatMap((c) => c.headingPath);
      expect(names, language).toEqual(expected);
    }
  });

  it("an unknown language is chunked by lines", () => {
    const doc = asDoc(Array.from({ length: 300 }, (_, i) => `line ${i}`).join("\n"), "code", "brainfuck");
    const out = chunks(doc, { maxChars: 200, overlapChars: 20, minChars: 0 });
    expect(out.length).toBeGreaterThan(10);
    expect(out.every((c) => c.headingPath.length === 0)).toBe(true);
  });
});

describe("data files", () => {
  it("JSON is chunked by lines", async () => {
    const doc = await fixtureDoc("data/settings.json");
    expect(chunks(doc)).toHaveLength(1);
    const big = asDoc(
      JSON.stringify(Object.fromEntries(Array.from({ length: 200 }, (_, i) => [`key${i}`, { value: i }])), null, 2),
      "json",
    );
    const out = chunks(big, { maxChars: 300, overlapChars: 30, minChars: 0 });
    expect(out.length).toBeGreaterThan(10);
    for (const c of out) expect(c.text.split("\n").every((l) => /^\s*[{}"]|^\s*}/.test(l))).toBe(true);
  });

  it("YAML splits at top-level keys, TOML at tables", async () => {
    const yaml = await fixtureDoc("data/compose.yaml");
    const y = chunks(yaml, { maxChars: 120, overlapChars: 0, minChars: 0 });
    expect(y.map((c) => c.headingPath)).toEqual([["version"], ["services"], ["volumes"]]);
    expect(y[0]!.text.startsWith("# Milvus standalone")).toBe(true);
    const toml = await fixtureDoc("data/pyproject.toml");
    const t = chunks(toml, { maxChars: 60, overlapChars: 0, minChars: 0 });
    expect(t.map((c) => c.headingPath)).toEqual([["project"], ["tool.pytest.ini_options"]]);
  });
});

describe("text formats", () => {
  it("plain text uses setext / ATX headings", async () => {
    const doc = await fixtureDoc("text/notes.txt");
    const out = chunks(doc, { ...DEFAULT_CHUNKING, minChars: 0 });
    expect(out.map((c) => c.headingPath)).toEqual([["Release notes"], ["Release notes", "Known issues"]]);
    expect([out[1]!.lineStart, out[1]!.lineEnd]).toEqual([6, 9]);
  });

  it("reStructuredText: over- and underlined titles, levels by order of appearance", async () => {
    const doc = await fixtureDoc("text/install.rst");
    const out = chunks(doc, { ...DEFAULT_CHUNKING, minChars: 0 });
    expect(out.map((c) => c.headingPath)).toEqual([
      ["Installing"],
      ["Installing", "Requirements"],
      ["Installing", "Requirements", "Optional extras"],
    ]);
    expect(out[0]!.lineStart).toBe(1);
  });

  it("AsciiDoc: = headings, not inside listing blocks", async () => {
    const doc = await fixtureDoc("text/manual.adoc");
    const out = chunks(doc, { ...DEFAULT_CHUNKING, minChars: 0 });
    expect(out.map((c) => c.headingPath)).toEqual([
      ["User Manual"],
      ["User Manual", "Getting started"],
      ["User Manual", "Getting started", "Configuration"],
    ]);
    expect(out[1]!.text).toContain("== not a heading inside a listing block");
  });

  it("text without headings is chunked by paragraphs with overlap", () => {
    const text = Array.from({ length: 30 }, (_, i) => `Paragraph ${i}. ${"Some words here. ".repeat(6)}`).join("\n\n");
    const out = chunks(asDoc(text, "text"), { maxChars: 400, overlapChars: 50, minChars: 0 });
    expect(out.length).toBeGreaterThan(5);
    expect(out.every((c) => c.headingPath.length === 0)).toBe(true);
  });
});
