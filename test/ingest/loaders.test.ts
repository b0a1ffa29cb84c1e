import { writeFile } from "node:fs/promises";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { chunkDocument, DEFAULT_CHUNKING } from "../../src/ingest/chunk/index.js";
import { sha256Hex } from "../../src/ingest/hash.js";
import { decodeText, looksBinary } from "../../src/ingest/loaders/decode.js";
import { htmlToText } from "../../src/ingest/loaders/html.js";
import {
  detectFileType,
  isSkipped,
  type LoadResult,
  loadBytes,
  loadFile,
  supportedExtensions,
} from "../../src/ingest/loaders/index.js";
import { loadMarkdown, parseFrontMatterFields } from "../../src/ingest/loaders/markdown.js";
import type { LoadedDocument, SkippedSource } from "../../src/ingest/types.js";
import { checkChunkInvariants, INGEST_FIXTURES, makePdf, makeTempDir } from "./helpers.js";

function fixture(rel: string): string {
  return path.join(INGEST_FIXTURES, rel);
}

function expectDoc(result: LoadResult): LoadedDocument {
  if (isSkipped(result)) throw new Error(`unexpected skip: ${result.reason} ${result.detail ?? ""}`);
  return result;
}

function expectSkip(result: LoadResult): SkippedSource {
  if (!isSkipped(result)) throw new Error(`expected a skip, got a ${result.fileType} document`);
  return result;
}

async function load(rel: string): Promise<LoadResult> {
  return loadFile(fixture(rel), rel);
}

describe("file types", () => {
  it("maps extensions to file types and languages", () => {
    expect(detectFileType("a/b.md")).toEqual({ fileType: "markdown" });
    expect(detectFileType("x.MDX")).toEqual({ fileType: "markdown" });
    expect(detectFileType("x.htm")).toEqual({ fileType: "html" });
    expect(detectFileType("x.pdf")).toEqual({ fileType: "pdf" });
    expect(detectFileType("x.rst")).toEqual({ fileType: "text", language: "restructuredtext" });
    expect(detectFileType("x.txt")).toEqual({ fileType: "text" });
    expect(detectFileType("x.tsx")).toEqual({ fileType: "code", language: "typescript" });
    expect(detectFileType("x.py")).toEqual({ fileType: "code", language: "python" });
    expect(detectFileType("x.rs")).toEqual({ fileType: "code", language: "rust" });
    expect(detectFileType("x.json")).toEqual({ fileType: "json" });
    expect(detectFileType("x.yml")).toEqual({ fileType: "yaml", language: "yaml" });
    expect(detectFileType("x.toml")).toEqual({ fileType: "yaml", language: "toml" });
    expect(detectFileType("Dockerfile")).toEqual({ fileType: "code", language: "dockerfile" });
    expect(detectFileType("photo.png")).toBeUndefined();
    expect(detectFileType("archive.tar.gz")).toBeUndefined();
    expect(supportedExtensions()).toContain("svelte");
  });
});

describe("decoding", () => {
  it("detects binary data by NUL bytes or control characters", () => {
    expect(looksBinary(new Uint8Array([0x68, 0x00, 0x69]))).toBe(true);
    expect(looksBinary(new Uint8Array(100).fill(0x01))).toBe(true);
    expect(looksBinary(new TextEncoder().encode("plain\ttext\r\n\f"))).toBe(false);
  });

  it("reads invalid UTF-8 as windows-1252 (saying so), accepts a BOM and UTF-16 with a BOM, unifies newlines", () => {
    expect(decodeText(new Uint8Array([0x63, 0x61, 0x66, 0xe9]))).toEqual({
      ok: true,
      text: "café",
      note: "not valid UTF-8; decoded as windows-1252",
    });
    // A declared charset is trusted: bytes that do not fit it are refused, not guessed.
    expect(decodeText(new Uint8Array([0x63, 0x61, 0x66, 0xe9]), "utf-8")).toMatchObject({
      ok: false,
      reason: "undecodable",
    });
    expect(decodeText(new Uint8Array([0xef, 0xbb, 0xbf, 0x68, 0x69]))).toEqual({ ok: true, text: "hi" });
    expect(decodeText(new Uint8Array([0xff, 0xfe, 0x68, 0x00, 0x69, 0x00]))).toEqual({ ok: true, text: "hi" });
    expect(decodeText(new Uint8Array([0xfe, 0xff, 0x00, 0x68, 0x00, 0x69]))).toEqual({ ok: true, text: "hi" });
    expect(decodeText(new TextEncoder().encode("a\r\nb\rc"))).toEqual({ ok: true, text: "a\nb\nc" });
    expect(decodeText(new Uint8Array([0x63, 0x61, 0x66, 0xe9]), "iso-8859-1")).toEqual({ ok: true, text: "café" });
    expect(decodeText(new Uint8Array([0x61]), "no-such-charset")).toMatchObject({ ok: false, reason: "undecodable" });
  });
});

describe("bad files are skipped with a reason", () => {
  it("binary", async () => {
    expect(expectSkip(await load("bad/pixel.png"))).toMatchObject({ source: "bad/pixel.png", reason: "binary" });
  });

  it("invalid UTF-8 is read as windows-1252, and says so", async () => {
    const doc = await load("bad/latin1.txt");
    expect("reason" in doc).toBe(false);
    expect(doc).toMatchObject({ note: "not valid UTF-8; decoded as windows-1252" });
    expect((doc as { text: string }).text).not.toContain("\uFFFD");
    // A charset the server declared is trusted: bytes that do not fit it are still refused.
    const declared = await loadBytes(new Uint8Array([0x63, 0x61, 0x66, 0xe9]), "x.txt", undefined, "utf-8");
    expect(expectSkip(declared)).toMatchObject({ reason: "undecodable", detail: "invalid UTF-8" });
  });

  it("whitespace only", async () => {
    expect(expectSkip(await load("bad/blank.md")).reason).toBe("empty");
    expect(expectSkip(await loadBytes(new Uint8Array(), "x.md", { fileType: "markdown" })).reason).toBe("empty");
    // Only front matter: nothing left to index.
    const fm = new TextEncoder().encode("---\ntitle: Nothing\n---\n\n");
    expect(expectSkip(await loadBytes(fm, "fm.md", { fileType: "markdown" })).reason).toBe("empty");
  });

  it("missing or unreadable", async () => {
    const skip = expectSkip(await loadFile(fixture("nope/missing.md"), "nope/missing.md"));
    expect(skip.reason).toBe("unreadable");
    expect(skip.detail).toMatch(/ENOENT/);
    expect(expectSkip(await loadFile(INGEST_FIXTURES, "ingest")).reason).toBe("unreadable");
  });

  it("too large when a byte limit is given", async () => {
    const skip = expectSkip(await loadFile(fixture("code/search.ts"), "code/search.ts", { maxBytes: 100 }));
    expect(skip.reason).toBe("too-large");
    expect(skip.detail).toMatch(/over the limit of 100/);
  });

  it("unknown extensions are read as text when they decode, else skipped", async () => {
    const { dir, cleanup } = await makeTempDir();
    try {
      await writeFile(path.join(dir, "notes.conf"), "key = value\n");
      await writeFile(path.join(dir, "blob.bin"), Buffer.from([1, 2, 0, 3]));
      expect(expectDoc(await loadFile(path.join(dir, "notes.conf"), "notes.conf")).fileType).toBe("text");
      expect(expectSkip(await loadFile(path.join(dir, "blob.bin"), "blob.bin")).reason).toBe("binary");
    } finally {
      await cleanup();
    }
  });
});

describe("markdown", () => {
  it("blanks front matter (keeping line numbers) and keeps title and tags", () => {
    const md = loadMarkdown('---\ntitle: "Hello"\ntags: [alpha, "beta"]\nother: x\n---\n# Heading\n\nBody\n');
    expect(md.title).toBe("Hello");
    expect(md.tags).toEqual(["alpha", "beta"]);
    expect(md.text.split("\n").slice(0, 6)).toEqual(["", "", "", "", "", "# Heading"]);
  });

  it("reads block-list tags, keywords, TOML front matter, and falls back to the first H1", () => {
    expect(parseFrontMatterFields("tags:\n  - one\n  - two\n", false)).toEqual({ tags: ["one", "two"] });
    expect(parseFrontMatterFields("keywords: a, b\n", false)).toEqual({ tags: ["a", "b"] });
    expect(parseFrontMatterFields('title: "Issue #42" # comment\n', false)).toEqual({ title: "Issue #42" });
    expect(parseFrontMatterFields("title: Plain # comment\n", false)).toEqual({ title: "Plain" });
    expect(parseFrontMatterFields('title = "T"\ntags = ["x"]\n', true)).toEqual({ title: "T", tags: ["x"] });
    const md = loadMarkdown('+++\ntags = ["t"]\n+++\n\nText\n\nMain title\n==========\n');
    expect(md.tags).toEqual(["t"]);
    expect(md.title).toBe("Main title");
    expect(loadMarkdown("```\n# code\n```\n# Real  Title #\n").title).toBe("Real Title");
  });

  it("leaves a document without closing front-matter delimiter alone", () => {
    const md = loadMarkdown("---\ntitle: x\n\n# Body\n");
    expect(md.text).toBe("---\ntitle: x\n\n# Body\n");
  });

  it("blanks HTML comments that start a line, but not inside code", () => {
    const md = loadMarkdown(
      "# T\n<!-- hidden\nstill hidden -->\nvisible <!-- inline stays -->\n```\n<!-- code -->\n```\n",
    );
    expect(md.text).toBe("# T\n\n\nvisible <!-- inline stays -->\n```\n<!-- code -->\n```\n");
  });

  it("loads a file with a UTF-8 BOM", async () => {
    const doc = expectDoc(await load("text/bom.md"));
    expect(doc.text.startsWith("# BOM heading")).toBe(true);
    expect(doc.title).toBe("BOM heading");
  });
});

describe("HTML", () => {
  it("converts the guide to Markdown-ish text without page chrome", async () => {
    const doc = expectDoc(await load("html/guide.html"));
    expect(doc.fileType).toBe("html");
    expect(doc.title).toBe("Vector Search Guide");
    for (const dropped of ["SITE-NAVIGATION", "SITE-FOOTER", "SCRIPT-BODY", "tracking-code", "font-family"]) {
      expect(doc.text).not.toContain(dropped);
    }
    expect(doc.text).toContain(
      "# Vector Search Guide\n\nThis guide explains how approximate nearest neighbour search works & how to tune it.",
    );
    expect(doc.text).toContain(
      "- Graph indexes such as `HNSW`\n  - fast queries\n  - more memory\n- Inverted file indexes",
    );
    expect(doc.text).toContain("A good starting point is 4 × sqrt(n).\nMeasure recall before tuning further.");
    expect(doc.text).toContain("```python\nindex = build_index(\n    nlist=1024,\n)\n```");
    expect(doc.text).toContain("Name | Default\nnprobe | 8");
    expect(doc.text).toContain("1. Build\n2. Search");
    const chunks = chunkDocument(doc, DEFAULT_CHUNKING);
    checkChunkInvariants(doc, chunks, DEFAULT_CHUNKING.maxChars);
    // The one-sentence intro under the H1 is shorter than minChars: it opens the first sub-section's chunk.
    expect(chunks[0]!.text.startsWith("# Vector Search Guide\n\nThis guide explains")).toBe(true);
    expect(chunks.map((c) => c.headingPath)).toEqual([
      ["Vector Search Guide", "Index types"],
      ["Vector Search Guide", "Index types", "Choosing nlist"],
      ["Vector Search Guide", "Parameters"],
    ]);
  });

  it("survives very deep nesting (no recursion)", () => {
    const depth = 100_000;
    const html = `<html><body>${"<div><span>".repeat(depth)}deep text${"</span></div>".repeat(depth)}</body></html>`;
    expect(htmlToText(html).text).toBe("deep text");
    const lists = `${"<ul><li>".repeat(20_000)}leaf${"</li></ul>".repeat(20_000)}`;
    const text = htmlToText(lists).text;
    expect(text.endsWith("- leaf")).toBe(true);
    // List indentation is capped.
    expect(Math.max(...text.split("\n").map((l) => l.length))).toBeLessThan(40);
  });

  it("escapes a leading # in text, uses <main>, and handles a page without structure", () => {
    expect(htmlToText("<p># not a heading</p>").text).toBe("\\# not a heading");
    expect(htmlToText("<body><div>menu</div><main><p>content</p></main></body>").text).toBe("content");
    expect(htmlToText("just text").text).toBe("just text");
    expect(htmlToText("<h2>Only <em>title</em></h2>").text).toBe("## Only title");
  });
});

describe("PDF (unpdf on this Node version)", () => {
  const dirHolder: { dir: string; cleanup: () => Promise<void> } = { dir: "", cleanup: async () => {} };
  beforeAll(async () => {
    Object.assign(dirHolder, await makeTempDir());
  });
  afterAll(() => dirHolder.cleanup());

  it("extracts text per page with page sections and the info title", async () => {
    const bytes = makePdf(
      [
        ["Milvus stores vectors.", "Page one, second line."],
        ["Page two talks about indexes (IVF and HNSW)."],
        ["Page three."],
      ],
      "Test Manual",
    );
    const file = path.join(dirHolder.dir, "manual.pdf");
    await writeFile(file, bytes);
    const doc = expectDoc(await loadFile(file, "manual.pdf"));
    expect(doc.fileType).toBe("pdf");
    expect(doc.title).toBe("Test Manual");
    expect(doc.sourceHash).toBe(sha256Hex(bytes));
    expect(doc.text).toContain("Milvus stores vectors.");
    expect(doc.text).toContain("Page two talks about indexes (IVF and HNSW).");
    expect(doc.text.split("\f")).toHaveLength(3);
    const chunks = chunkDocument(doc, DEFAULT_CHUNKING);
    expect(chunks.map((c) => c.headingPath)).toEqual([["Page 1"], ["Page 2"], ["Page 3"]]);
    expect(chunks[1]!.text).toBe("Page two talks about indexes (IVF and HNSW).");
    checkChunkInvariants(doc, chunks, DEFAULT_CHUNKING.maxChars);
  });

  it("skips a malformed PDF as undecodable and a PDF without text as empty", async () => {
    const broken = new TextEncoder().encode("%PDF-1.4\n1 0 obj << /Type /Catalog >>\ngarbage without xref\n");
    expect(expectSkip(await loadBytes(broken, "broken.pdf", { fileType: "pdf" })).reason).toBe("undecodable");
    const notPdf = new TextEncoder().encode("hello");
    expect(expectSkip(await loadBytes(notPdf, "fake.pdf", { fileType: "pdf" }))).toMatchObject({
      reason: "undecodable",
      detail: expect.stringMatching(/not a PDF/),
    });
    const blank = makePdf([[]]);
    expect(expectSkip(await loadBytes(blank, "blank.pdf", { fileType: "pdf" })).reason).toBe("empty");
  });
});

describe("code, data and text files", () => {
  it("loads code with its language and the raw bytes' hash", async () => {
    const doc = expectDoc(await load("code/search.ts"));
    expect(doc).toMatchObject({ fileType: "code", language: "typescript", source: "code/search.ts" });
    expect(doc.sourceHash).toMatch(/^[0-9a-f]{64}$/);
    expect(expectDoc(await load("code/tokenize.py")).language).toBe("python");
  });

  it("loads JSON, YAML and TOML as text", async () => {
    expect(expectDoc(await load("data/settings.json")).fileType).toBe("json");
    expect(expectDoc(await load("data/compose.yaml"))).toMatchObject({ fileType: "yaml", language: "yaml" });
    expect(expectDoc(await load("data/pyproject.toml"))).toMatchObject({ fileType: "yaml", language: "toml" });
  });

  it("loads plain text, RST, AsciiDoc and UTF-16", async () => {
    expect(expectDoc(await load("text/notes.txt")).fileType).toBe("text");
    expect(expectDoc(await load("text/install.rst")).language).toBe("restructuredtext");
    expect(expectDoc(await load("text/manual.adoc")).language).toBe("asciidoc");
    expect(expectDoc(await load("text/utf16.txt")).text).toBe("UTF-16 text with a BOM.\n");
  });
});
