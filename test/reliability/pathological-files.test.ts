import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { pdfToText } from "../../src/ingest/loaders/pdf.js";
import type { IngestSummary } from "../../src/ingest/sync.js";
import { runMrag } from "../helpers/cli.js";
import { buildPdf, deflated, deflateRepeated, peakRssEnv, textContent } from "./hostile-helpers.js";

/**
 * Pathological files through the real pipeline (the built CLI: walk, loaders, chunker, builtin embedder,
 * embedded store): each is skipped with a reason in the summary or ingested within limits, the good files next
 * to them still ingest, and the process neither crashes nor hangs. Run `tsc -p tsconfig.json` first when src
 * changed: the CLI runs from dist/.
 */

const MiB = 1024 * 1024;
/**
 * The PDF reader stops a PDF once the process has grown by 1 GiB (PDF_LIMITS.maxMemoryBytes) and PDF.js can
 * overshoot that by one doubling of its buffer before the next check; the store, the model and the 10 MB text
 * file need a few hundred MB more. Without the limit, the 2 GiB bomb alone takes the process past 3.5 GiB.
 */
const PEAK_RSS_LIMIT_KIB = 3 * 1024 * 1024;

let dir = "";

beforeAll(() => {
  dir = mkdtempSync(path.join(tmpdir(), "mrag-hostile-"));
});

afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe("a folder of hostile files through mrag ingest", () => {
  let summary: IngestSummary;
  let peakKiB = 0;
  let docs = "";
  let store = "";

  beforeAll(async () => {
    docs = path.join(dir, "docs");
    store = path.join(dir, "store");
    mkdirSync(docs);
    const put = (name: string, data: string | Uint8Array) => writeFileSync(path.join(docs, name), data);
    put("good.md", "# Good\n\nThe quokka census counted forty-two quokkas on the island.\n");
    put("good.pdf", buildPdf([textContent("Axolotl regeneration study, page one.")], [0]));
    put(
      "nested.html",
      `<html><body>${"<div>".repeat(100_000)}deeply nested marmoset${"</div>".repeat(100_000)}</body></html>`,
    );
    // Every element still open at the end: node-html-parser re-parented them in quadratic time or worse.
    put("unclosed.html", `<html><body>${"<div>".repeat(20_000)}unclosed pangolin text`);
    put("oneline.md", "narwhal ".repeat(1_250_000)); // 10,000,000 bytes on one line, just under the 10 MiB cap
    put("toolarge.txt", Buffer.alloc(11 * MiB, "a"));
    // 200 MiB of text operators in a 0.7 MB file: millions of text items.
    put(
      "textbomb.pdf",
      buildPdf(
        [
          await deflateRepeated(
            Buffer.from("BT /F1 12 Tf 72 700 Td (aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa) Tj ET\n"),
            200,
          ),
        ],
        [0],
      ),
    );
    // 2 GiB of zeros in a 2 MB file: PDF.js inflates a content stream into one growing buffer.
    put("zipbomb.pdf", buildPdf([await deflateRepeated(Buffer.alloc(1), 2048)], [0]));
    put("invalid-utf8.txt", Buffer.from([0x68, 0x69, 0x20, 0xc3, 0x28, 0xa0, 0xa1, 0x0a, 0xe2, 0x82, 0x28, 0x0a]));
    put("nul.md", Buffer.concat([Buffer.from("# Title\n\nsome text"), Buffer.from([0]), Buffer.from(" more\n")]));
    put("binary.txt", Buffer.from(Array.from({ length: 4096 }, (_, i) => (i * 2_654_435_761) >>> 24)));

    const rss = peakRssEnv(dir);
    const result = await runMrag(["ingest", docs, "--json", "--store", store], { cwd: dir, env: rss.env });
    expect(result.stderr).not.toMatch(/\n\s+at /);
    // Some files were refused and the rest ingested: the documented "partial" exit code, one line saying so.
    expect(result.code, result.stderr).toBe(3);
    expect(result.stderr).toMatch(/^mrag: 5 of 11 source\(s\) failed .*\(exit 3\)\n$/);
    summary = JSON.parse(result.stdout) as IngestSummary;
    peakKiB = Number(readFileSync(rss.file, "utf8"));
    process.stderr.write(
      `pathological folder: peak RSS ${(peakKiB / 1024).toFixed(0)} MiB, ingest ${summary.durationMs} ms, ` +
        `${summary.chunksWritten} chunks\n`,
    );
  }, 240_000);

  it("ingests the good and the merely odd files", () => {
    const added = summary.added.map((s) => path.basename(s)).sort();
    expect(added).toEqual(["good.md", "good.pdf", "invalid-utf8.txt", "nested.html", "oneline.md", "unclosed.html"]);
    // Not UTF-8: read as windows-1252, and the summary says so.
    expect(summary.notes.map((n) => [path.basename(n.source), n.note])).toEqual([
      ["invalid-utf8.txt", "not valid UTF-8; decoded as windows-1252"],
    ]);
  });

  it("skips each hostile file with its own reason", () => {
    const skipped = Object.fromEntries(summary.skipped.map((s) => [path.basename(s.source), s]));
    expect(Object.keys(skipped).sort()).toEqual([
      "binary.txt",
      "nul.md",
      "textbomb.pdf",
      "toolarge.txt",
      "zipbomb.pdf",
    ]);
    expect(skipped["toolarge.txt"]).toMatchObject({
      reason: "too-large",
      detail: expect.stringMatching(/over the limit/),
    });
    expect(skipped["textbomb.pdf"]).toMatchObject({
      reason: "too-large",
      detail: expect.stringMatching(/text is over the limit of \d+ characters/),
    });
    expect(skipped["zipbomb.pdf"]).toMatchObject({
      reason: "too-large",
      detail: expect.stringMatching(/needed more than \d+ MiB .*decompression bomb/),
    });
    expect(skipped["nul.md"]).toMatchObject({ reason: "binary" });
    expect(skipped["binary.txt"]).toMatchObject({ reason: "binary" });
  });

  it("stays within the memory the PDF reader enforces", () => {
    expect(peakKiB).toBeGreaterThan(0);
    expect(peakKiB).toBeLessThan(PEAK_RSS_LIMIT_KIB);
  });

  it("leaves a store that answers searches for the good files", async () => {
    for (const [query, file] of [
      ["quokka census", "good.md"],
      ["axolotl regeneration", "good.pdf"],
      ["marmoset", "nested.html"],
      ["pangolin", "unclosed.html"],
    ] as const) {
      const result = await runMrag(["search", query, "--mode", "keyword", "--json", "--store", store], { cwd: dir });
      expect(result.code, result.stderr).toBe(0);
      const hits = (JSON.parse(result.stdout) as { hits: { source: string }[] }).hits;
      expect(path.basename(hits[0]?.source ?? ""), query).toBe(file);
    }
  }, 60_000);
});

describe("the PDF reader's limits", () => {
  it("stops a PDF that decodes one stream over and over (CPU bomb) at the time limit, then reads the next", async () => {
    // 3000 pages share one content stream of 8 MiB of zeros (8 KB deflated): 24 GiB to decode in a 0.5 MB file,
    // with little memory.
    const bomb = buildPdf(
      [await deflateRepeated(Buffer.alloc(1), 8)],
      Array.from({ length: 3000 }, () => 0),
    );
    expect(bomb.length).toBeLessThan(600_000);
    const result = await pdfToText(bomb, { timeoutMs: 1500 });
    expect(result).toMatchObject({
      ok: false,
      reason: "too-large",
      detail: expect.stringMatching(/took longer than 1\.5 s/),
    });
    const good = await pdfToText(buildPdf([deflated("BT /F1 12 Tf 72 720 Td (Still reading PDFs) Tj ET")], [0]));
    expect(good).toEqual({ ok: true, text: "Still reading PDFs" });
  }, 60_000);

  it("stops a PDF whose decoding outgrows the memory limit, then reads the next", async () => {
    const bomb = buildPdf([await deflateRepeated(Buffer.alloc(1), 1024)], [0]);
    const result = await pdfToText(bomb, { maxMemoryBytes: 128 * MiB });
    expect(result).toMatchObject({
      ok: false,
      reason: "too-large",
      detail: expect.stringMatching(/needed more than 128 MiB/),
    });
    const good = await pdfToText(buildPdf([textContent("After the bomb")], [0]));
    expect(good).toEqual({ ok: true, text: "After the bomb" });
  }, 60_000);

  it("stops reading text at the text limit instead of building it all", async () => {
    const pages = Array.from({ length: 50 }, (_, i) => textContent(`page ${i} ${"lorem ipsum ".repeat(20)}`));
    const pdf = buildPdf(
      pages,
      pages.map((_, i) => i),
    );
    expect(await pdfToText(pdf, { maxTextChars: 1000 })).toMatchObject({
      ok: false,
      reason: "too-large",
      detail: expect.stringMatching(/over the limit of 1000 characters/),
    });
    const whole = await pdfToText(pdf);
    expect(whole.ok && whole.text.split("\f")).toHaveLength(50);
  }, 60_000);
});
