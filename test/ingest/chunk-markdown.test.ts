import { readFile } from "node:fs/promises";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { chunkDocument, DEFAULT_CHUNKING } from "../../src/ingest/chunk/index.js";
import { isSkipped, loadFile } from "../../src/ingest/loaders/index.js";
import type { ChunkingOptions, LoadedDocument, TextChunk } from "../../src/ingest/types.js";
import { asDoc, checkChunkInvariants, collapseBlankLines, MILVUS_FAQ } from "./helpers.js";

async function loadFaq(name: string): Promise<LoadedDocument> {
  const result = await loadFile(path.join(MILVUS_FAQ, name), `milvus-faq/${name}`);
  if (isSkipped(result)) throw new Error(`${name} was skipped: ${result.reason}`);
  return result;
}

const FAQ_FILES = {
  "product_faq.md": { chunks: 31, title: "Product FAQ", questions: 31 },
  "operational_faq.md": { chunks: 17, title: "Operational FAQ", questions: 17 },
  "performance_faq.md": { chunks: 5, title: "Performance FAQ", questions: 5 },
  "troubleshooting.md": { chunks: 8, title: "Troubleshooting", questions: 0 },
} as const;

describe("milvus-faq with the default options", () => {
  for (const [name, expected] of Object.entries(FAQ_FILES)) {
    it(`${name}: ${expected.chunks} chunks, valid line ranges, title from front matter`, async () => {
      const doc = await loadFaq(name);
      expect(doc.fileType).toBe("markdown");
      expect(doc.title).toBe(expected.title);
      const chunks = chunkDocument(doc, DEFAULT_CHUNKING);
      expect(chunks).toHaveLength(expected.chunks);
      checkChunkInvariants(doc, chunks, DEFAULT_CHUNKING.maxChars);
      // Front matter is blanked, never chunked.
      for (const c of chunks) expect(c.text).not.toMatch(/^(id|summary|title): /m);
      // Every chunk is under the file's H1.
      for (const c of chunks) expect(c.headingPath[0]).toBe(expected.title);
    });
  }

  it("keeps every product FAQ question in a chunk of its own, heading first", async () => {
    const doc = await loadFaq("product_faq.md");
    const raw = (await readFile(path.join(MILVUS_FAQ, "product_faq.md"), "utf8")).split("\n");
    const chunks = chunkDocument(doc, DEFAULT_CHUNKING);
    const questions = raw.filter((l) => l.startsWith("#### ")).map((l) => l.slice(5).trim());
    expect(questions).toHaveLength(FAQ_FILES["product_faq.md"].questions);
    // One chunk per question, in order, each headed by exactly its own question.
    expect(chunks.map((c) => c.headingPath.at(-1))).toEqual(questions);
    for (const c of chunks) {
      expect(c.headingPath).toHaveLength(2);
      expect(c.text.match(/^#### /gm)).toHaveLength(1);
    }
    // Chunks after the first are exact slices of the file (line numbers are the file's).
    for (const c of chunks.slice(1)) {
      expect(collapseBlankLines(raw.slice(c.lineStart - 1, c.lineEnd).join("\n"))).toBe(c.text);
    }
  });

  it("makes `Where does Milvus store data?` a chunk of its own with the file's line numbers", async () => {
    const doc = await loadFaq("product_faq.md");
    const chunks = chunkDocument(doc, DEFAULT_CHUNKING);
    const hits = chunks.filter((c) => c.headingPath.at(-1) === "Where does Milvus store data?");
    expect(hits).toHaveLength(1);
    const chunk = hits[0]!;
    // The source heading is `####  Where does Milvus store data?` (two spaces): the path is trimmed.
    expect(chunk.headingPath).toEqual(["Product FAQ", "Where does Milvus store data?"]);
    expect(chunk.text.startsWith("####  Where does Milvus store data?\n")).toBe(true);
    expect(chunk.text).toContain("Milvus deals with two types of data, inserted data and metadata.");
    expect(chunk.text).toContain("Each Milvus module has its own metadata that are stored in etcd.");
    expect(chunk.text).not.toContain("Why is there no vector data in etcd?");
    expect(chunk.text).not.toContain("maximum dataset size");
    expect([chunk.lineStart, chunk.lineEnd]).toEqual([37, 43]);
    expect(chunk.position).toBe(3);
  });

  it("merges the H1 and its TOC comment into the first question instead of emitting a heading-only chunk", async () => {
    const doc = await loadFaq("product_faq.md");
    const first = chunkDocument(doc, DEFAULT_CHUNKING)[0]!;
    expect(first.headingPath).toEqual(["Product FAQ", "How much does Milvus cost?"]);
    expect(first.text.startsWith("# Product FAQ\n\n#### How much does Milvus cost?\n\nMilvus is a 100% free")).toBe(
      true,
    );
    expect(first.text).not.toContain("<!--");
    expect(first.lineStart).toBe(7);
    expect(first.lineEnd).toBe(21);
  });

  it("gives troubleshooting.md nested heading paths (indented ATX headings, bodyless parent merged down)", async () => {
    const doc = await loadFaq("troubleshooting.md");
    const chunks = chunkDocument(doc, DEFAULT_CHUNKING);
    expect(chunks.map((c) => c.headingPath)).toEqual([
      ["Troubleshooting"],
      ["Troubleshooting", "Boot issues"],
      ["Troubleshooting", "Runtime issues"],
      ["Troubleshooting", "API issues"],
      ["Troubleshooting", "etcd crash issues", "1. etcd pod pending"],
      ["Troubleshooting", "etcd crash issues", "2. etcd pod crash"],
      ["Troubleshooting", "etcd crash issues", "3. Multiple pods keep crashing while `etcd-0` is still running"],
      ["Troubleshooting", "etcd crash issues", "4. All pods crash"],
    ]);
    expect(chunks[0]!.lineStart).toBe(6);
    expect(chunks[4]!.text.startsWith("  ## etcd crash issues")).toBe(true);
    expect([chunks[4]!.lineStart, chunks[4]!.lineEnd]).toEqual([34, 38]);
  });

  it("splits long sections with small limits, keeping sizes, overlap and line ranges", async () => {
    const options: ChunkingOptions = { maxChars: 300, overlapChars: 60, minChars: 50 };
    for (const name of Object.keys(FAQ_FILES)) {
      const doc = await loadFaq(name);
      const chunks = chunkDocument(doc, options);
      checkChunkInvariants(doc, chunks, options.maxChars);
      expect(chunks.length).toBeGreaterThan(FAQ_FILES[name as keyof typeof FAQ_FILES].chunks);
    }
    const doc = await loadFaq("product_faq.md");
    const parts = chunkDocument(doc, options).filter((c) => c.headingPath.at(-1) === "Where does Milvus store data?");
    expect(parts.length).toBeGreaterThan(1);
    expect(parts[0]!.text.startsWith("####  Where does Milvus store data?")).toBe(true);
    expect(parts.at(-1)!.lineEnd).toBe(43);
  });
});

function chunk(text: string, options: Partial<ChunkingOptions> = {}): TextChunk[] {
  const opts = { ...DEFAULT_CHUNKING, ...options };
  const doc = asDoc(text);
  const chunks = chunkDocument(doc, opts);
  checkChunkInvariants(doc, chunks, opts.maxChars);
  return chunks;
}

describe("markdown structure", () => {
  it("ignores # lines inside fenced code and cleans heading titles", () => {
    const chunks = chunk(
      [
        "# Guide ##",
        "",
        "Intro text that is long enough to stand on its own as a section of the guide, more than the",
        "minimum size of two hundred characters, so that it is not merged into the next section at all.",
        "A third line makes sure of that.",
        "",
        "##   Setup   steps  ",
        "",
        "```bash",
        "# not a heading",
        "## also not a heading",
        "```",
        "",
        "~~~",
        "# still code",
        "~~~",
      ].join("\n"),
    );
    expect(chunks.map((c) => c.headingPath)).toEqual([["Guide"], ["Guide", "Setup steps"]]);
    expect(chunks[1]!.text).toContain("# not a heading");
    expect([chunks[1]!.lineStart, chunks[1]!.lineEnd]).toEqual([7, 16]);
  });

  it("reads setext headings and pops the heading stack correctly", () => {
    const body = "Body text. ".repeat(25);
    const chunks = chunk(
      `Title\n=====\n\n${body}\n\nPart A\n------\n\n${body}\n\n### Deep\n\n${body}\n\nPart B\n------\n\n${body}\n`,
    );
    expect(chunks.map((c) => c.headingPath)).toEqual([
      ["Title"],
      ["Title", "Part A"],
      ["Title", "Part A", "Deep"],
      ["Title", "Part B"],
    ]);
    expect(chunks[1]!.text.startsWith("Part A\n------")).toBe(true);
  });

  it("does not take a thematic break or a list item for a setext underline", () => {
    const chunks = chunk("# Doc\n\nSome text\nmore text\n---\n\n- item\n---\n\n---\n\nEnd.");
    expect(chunks).toHaveLength(1);
    expect(chunks[0]!.headingPath).toEqual(["Doc"]);
  });

  it("never glues sibling sections, even tiny ones", () => {
    const chunks = chunk("# FAQ\n\n## Q1?\n\nA1.\n\n## Q2?\n\nA2.\n\n## Q3?\n\nA3.");
    expect(chunks.map((c) => c.headingPath)).toEqual([
      ["FAQ", "Q1?"],
      ["FAQ", "Q2?"],
      ["FAQ", "Q3?"],
    ]);
    expect(chunks[0]!.text).toBe("# FAQ\n\n## Q1?\n\nA1.");
  });

  it("merges a short intro into its first sub-section, but not a long one", () => {
    const short = chunk("# API\n\nShort intro.\n\n## get()\n\nReturns it.");
    expect(short).toHaveLength(1);
    expect(short[0]!.headingPath).toEqual(["API", "get()"]);
    const longIntro = "A long introduction sentence. ".repeat(10);
    const long = chunk(`# API\n\n${longIntro}\n\n## get()\n\nReturns it.`);
    expect(long.map((c) => c.headingPath)).toEqual([["API"], ["API", "get()"]]);
  });

  it("minChars 0 disables merging: a bare heading becomes its own chunk", () => {
    const chunks = chunk("# A\n\n## B\n\ntext", { minChars: 0 });
    expect(chunks.map((c) => c.text)).toEqual(["# A", "## B\n\ntext"]);
  });

  it("keeps text before the first heading (preamble) with an empty heading path", () => {
    const pre = "Preamble paragraph that is long enough. ".repeat(8);
    const chunks = chunk(`${pre}\n\n# Title\n\nBody.`);
    expect(chunks[0]!.headingPath).toEqual([]);
    expect(chunks[1]!.headingPath).toEqual(["Title"]);
  });

  it("splits a long section at paragraphs with overlap, heading only in the first piece", () => {
    const paragraphs = Array.from(
      { length: 12 },
      (_, i) => `Paragraph ${i} ${"lorem ipsum dolor sit amet ".repeat(8)}.`,
    );
    const chunks = chunk(`## Long\n\n${paragraphs.join("\n\n")}`, { maxChars: 600, overlapChars: 80 });
    expect(chunks.length).toBeGreaterThan(3);
    expect(chunks[0]!.text.startsWith("## Long")).toBe(true);
    for (const c of chunks) expect(c.headingPath).toEqual(["Long"]);
    for (let i = 1; i < chunks.length; i++) {
      const prev = chunks[i - 1]!.text;
      const head = chunks[i]!.text.slice(0, 20);
      // Overlap: the next chunk starts with text from the end of the previous one (at most overlapChars).
      expect(prev.slice(-80)).toContain(head.slice(0, Math.min(head.length, 10)));
      expect(chunks[i]!.lineStart).toBeLessThanOrEqual(chunks[i - 1]!.lineEnd + 2);
    }
  });

  it("does not split a fenced block that fits, and splits one that does not by lines", () => {
    const code = Array.from({ length: 20 }, (_, i) => `line_${i} = compute(${i})`).join("\n");
    const text = `## Code\n\n${"Some prose before the code. ".repeat(10)}\n\n\`\`\`python\n${code}\n\`\`\`\n\nAfter.`;
    const chunks = chunk(text, { maxChars: 600, overlapChars: 50 });
    const withFence = chunks.filter((c) => c.text.includes("```python"));
    expect(withFence).toHaveLength(1);
    expect(withFence[0]!.text).toContain("line_19 = compute(19)\n```");

    const huge = Array.from({ length: 200 }, (_, i) => `value_${i} = ${i}`).join("\n");
    const big = chunk(`## Big\n\n\`\`\`\n${huge}\n\`\`\``, { maxChars: 500, overlapChars: 50 });
    expect(big.length).toBeGreaterThan(4);
    for (const c of big) expect(c.text.split("\n").every((l) => /^(value_\d+ = \d+|```|## Big|)$/.test(l))).toBe(true);
  });

  it("falls back to sentences and then hard cuts", () => {
    const sentences = chunk(`# S\n\n${"This is one sentence. ".repeat(200)}`, { maxChars: 400, overlapChars: 40 });
    for (const c of sentences.slice(0, -1)) expect(c.text.endsWith(".")).toBe(true);
    const word = "x".repeat(5000);
    const hard = chunk(word, { maxChars: 1000, overlapChars: 100 });
    // No space anywhere: hard cuts, and no overlap (it would start mid-word).
    expect(hard.map((c) => c.text.length)).toEqual([1000, 1000, 1000, 1000, 1000]);
  });

  it("never cuts a surrogate pair", () => {
    const chunks = chunk("😀".repeat(2000), { maxChars: 301, overlapChars: 0 });
    for (const c of chunks) expect(c.text).not.toMatch(/^[\uDC00-\uDFFF]|[\uD800-\uDBFF]$/);
    expect(chunks.map((c) => c.text).join("")).toBe("😀".repeat(2000));
  });

  it("returns no chunks for blank text", () => {
    expect(chunkDocument(asDoc("  \n\n \t\n"))).toEqual([]);
  });

  it("rejects nonsensical options with a UsageError", () => {
    expect(() => chunkDocument(asDoc("x"), { maxChars: 0, overlapChars: 0, minChars: 0 })).toThrow(/chunk size/);
    expect(() => chunkDocument(asDoc("x"), { maxChars: 100, overlapChars: -1, minChars: 0 })).toThrow(/overlap/);
  });
});

describe("pathological input stays bounded", () => {
  it("a 10 MB single line", () => {
    const started = Date.now();
    const chunks = chunkDocument(asDoc("word ".repeat(2_000_000)), DEFAULT_CHUNKING);
    expect(chunks.length).toBeGreaterThan(6000);
    expect(chunks.every((c) => c.text.length <= 1500 && c.lineStart === 1 && c.lineEnd === 1)).toBe(true);
    expect(Date.now() - started).toBeLessThan(15_000);
  });

  it("a 10 MB line with no spaces at all", () => {
    const chunks = chunkDocument(asDoc("a".repeat(10_000_000)), DEFAULT_CHUNKING);
    expect(chunks).toHaveLength(Math.ceil(10_000_000 / 1500));
  });

  it("100k headings", () => {
    const text = Array.from(
      { length: 100_000 },
      (_, i) => `${"#".repeat((i % 3) + 1)} Heading ${i}\n\nBody ${i}.`,
    ).join("\n\n");
    const started = Date.now();
    const chunks = chunkDocument(asDoc(text), DEFAULT_CHUNKING);
    expect(chunks.length).toBeGreaterThan(30_000);
    expect(chunks.at(-1)!.headingPath).toEqual(["Heading 99999"]);
    expect(Date.now() - started).toBeLessThan(15_000);
  });

  it("deeply nested lists and block quotes", () => {
    const text = Array.from(
      { length: 50_000 },
      (_, i) => `${"  ".repeat(i % 300)}- ${">".repeat(i % 50)} item ${i}`,
    ).join("\n");
    const doc = asDoc(text);
    const chunks = chunkDocument(doc, DEFAULT_CHUNKING);
    expect(chunks.length).toBeGreaterThan(100);
    expect(chunks.every((c) => c.text.length <= 1500)).toBe(true);
  });

  it("an unclosed fence swallows the rest without blowing up", () => {
    const chunks = chunk(`# A\n\n\`\`\`\n${"# fake heading\n".repeat(10_000)}`);
    expect(chunks.every((c) => c.headingPath.length === 1 && c.headingPath[0] === "A")).toBe(true);
  });
});
