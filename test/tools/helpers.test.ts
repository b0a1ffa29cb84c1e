import { describe, expect, it } from "vitest";
import { z } from "zod";
import { sourceFromUri, sourceUri } from "../../src/server/resources.js";
import type { StoredChunk } from "../../src/store/types.js";
import { decodeCursor, encodeCursor } from "../../src/tools/list-sources.js";
import { appendChunkText } from "../../src/tools/read.js";
import { checkAllowedPath, resolveAllowedRoots } from "../../src/tools/roots.js";
import { makeSnippet } from "../../src/tools/snippet.js";
import { explainInvalid } from "../../src/tools/validation.js";

const chunk = (text: string, lineStart: number, lineEnd: number): StoredChunk => ({
  id: `c${lineStart}`,
  source: "a.md",
  text,
  headingPath: [],
  position: 0,
  lineStart,
  lineEnd,
  fileType: "markdown",
  tags: [],
  contentHash: "",
  sourceHash: "",
  ingestedAt: 0,
});

describe("makeSnippet", () => {
  const long = `${"intro words here. ".repeat(40)}The etcd cluster keeps the metadata safe. ${"tail text. ".repeat(40)}`;

  it("returns short text whole", () => {
    expect(makeSnippet("short text", "anything", 100)).toEqual({ text: "short text", truncated: false });
  });

  it("centres on the first query word found, cut at word boundaries, within the limit", () => {
    const s = makeSnippet(long, "where is etcd?", 120);
    expect(s.truncated).toBe(true);
    expect(s.text).toContain("etcd cluster");
    expect(s.text.startsWith("… ")).toBe(true);
    expect(s.text.length).toBeLessThanOrEqual(122);
    expect(s.text.slice(2).startsWith(" ")).toBe(false);
  });

  it("shows the start when no query word occurs, and nothing for a zero limit", () => {
    expect(makeSnippet(long, "zebra", 50).text.startsWith("intro")).toBe(true);
    expect(makeSnippet(long, "etcd", 0)).toEqual({ text: "", truncated: true });
  });
});

describe("appendChunkText", () => {
  it("drops the overlap between consecutive chunks", () => {
    const a = chunk("first part of the section, then the overlapping sentence here.", 1, 1);
    const b = chunk("the overlapping sentence here. And what follows it.", 1, 2);
    expect(appendChunkText(a.text, a, b)).toBe(
      "first part of the section, then the overlapping sentence here. And what follows it.",
    );
  });

  it("joins separate sections with a blank line and adjacent lines with a newline", () => {
    const a = chunk("# One", 1, 1);
    expect(appendChunkText(a.text, a, chunk("# Two", 5, 5))).toBe("# One\n\n# Two");
    expect(appendChunkText(a.text, a, chunk("next line", 2, 2))).toBe("# One\nnext line");
  });
});

describe("cursors and resource URIs", () => {
  it("round-trips a cursor and rejects garbage naming the field", () => {
    expect(decodeCursor(encodeCursor("docs/a b.md"))).toBe("docs/a b.md");
    expect(() => decodeCursor("not-a-cursor")).toThrow(/cursor: not a cursor returned by this server/);
  });

  it("round-trips source ids through mrag://source/ URIs", () => {
    for (const source of ["docs/a b.md", "https://example.com/x?y=1#z", "inline:notes/ü.md", "/abs/path.md"]) {
      const uri = sourceUri(source);
      expect(uri.startsWith("mrag://source/")).toBe(true);
      expect(sourceFromUri(uri)).toBe(source);
    }
    expect(sourceUri("docs/a b.md")).toBe("mrag://source/docs/a%20b.md");
    expect(sourceFromUri("file:///etc/passwd")).toBeUndefined();
  });
});

describe("explainInvalid", () => {
  it("names nested fields with indexes, missing fields and unknown keys", () => {
    const schema = z.object({ ids: z.array(z.string().min(1, "ids are not empty")), k: z.number() }).strict();
    const parsed = schema.safeParse({ ids: ["a", ""], extra: 1 }, { reportInput: true });
    expect(parsed.success).toBe(false);
    if (parsed.success) return;
    const message = explainInvalid(parsed.error, "read arguments").message;
    expect(message).toContain("ids[1]: ids are not empty");
    expect(message).toContain("k: missing; it is required (number)");
    expect(message).toContain('unknown key(s) "extra"; remove them');
  });
});

describe("allowed roots", () => {
  it("allows no local path when the server runs in / with no roots configured", async () => {
    expect(await resolveAllowedRoots([], "/")).toEqual([]);
    await expect(checkAllowedPath("etc", "paths[0]", [], "/")).rejects.toThrow(
      /paths\[0\]: this server may not read local paths.*--allow-root/,
    );
    expect(await resolveAllowedRoots(["/tmp"], "/")).toHaveLength(1);
  });

  it("refuses a configured root that does not exist", async () => {
    await expect(resolveAllowedRoots(["/no/such/folder"], "/")).rejects.toThrow(/does not exist.*--allow-root/);
  });
});
