import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import type { LoadedDocument, TextChunk } from "../../src/ingest/types.js";

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
export const FIXTURES = path.join(REPO_ROOT, "test/fixtures");
export const MILVUS_FAQ = path.join(FIXTURES, "milvus-faq");
export const INGEST_FIXTURES = path.join(FIXTURES, "ingest");

/** A fresh temporary folder; call the returned cleanup in afterEach/afterAll. */
export async function makeTempDir(prefix = "mrag-ingest-"): Promise<{ dir: string; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(path.join(tmpdir(), prefix));
  return { dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

function pdfString(text: string): string {
  return `(${text.replace(/[\\()]/g, (c) => `\\${c}`)})`;
}

/**
 * A minimal valid PDF (Helvetica text, one content stream per page, correct xref offsets), written by hand:
 * `pages[i]` are the text lines of page i+1.
 */
export function makePdf(pages: readonly (readonly string[])[], title?: string): Uint8Array {
  const objects: string[] = [];
  const pageObjects = pages.map((_, i) => 4 + i * 2);
  objects.push("<< /Type /Catalog /Pages 2 0 R >>");
  objects.push(`<< /Type /Pages /Kids [${pageObjects.map((n) => `${n} 0 R`).join(" ")}] /Count ${pages.length} >>`);
  objects.push("<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>");
  pages.forEach((lines, i) => {
    const content = `BT /F1 12 Tf 72 720 Td 16 TL ${lines.map((l) => `${pdfString(l)} Tj T*`).join(" ")} ET`;
    objects.push(
      `<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 3 0 R >> >> /Contents ${5 + i * 2} 0 R >>`,
    );
    objects.push(`<< /Length ${content.length} >>\nstream\n${content}\nendstream`);
  });
  let infoRef = "";
  if (title !== undefined) {
    objects.push(`<< /Title ${pdfString(title)} /Producer (mrag tests) >>`);
    infoRef = ` /Info ${objects.length} 0 R`;
  }
  let out = "%PDF-1.4\n";
  const offsets: number[] = [];
  objects.forEach((body, i) => {
    offsets.push(out.length);
    out += `${i + 1} 0 obj\n${body}\nendobj\n`;
  });
  const xref = out.length;
  out += `xref\n0 ${objects.length + 1}\n0000000000 65535 f \n`;
  for (const o of offsets) out += `${String(o).padStart(10, "0")} 00000 n \n`;
  out += `trailer\n<< /Size ${objects.length + 1} /Root 1 0 R${infoRef} >>\nstartxref\n${xref}\n%%EOF\n`;
  return new TextEncoder().encode(out);
}

export function asDoc(
  text: string,
  fileType: LoadedDocument["fileType"] = "markdown",
  language?: string,
  source = "doc",
): LoadedDocument {
  const doc: LoadedDocument = { source, fileType, text, sourceHash: "0".repeat(64) };
  if (language !== undefined) doc.language = language;
  return doc;
}

/** Runs of blank lines shrink to one, as the chunker does for prose. */
export function collapseBlankLines(text: string): string {
  return text.replace(/\n(?:[ \t]*\n){2,}/g, "\n\n");
}

/**
 * The invariants every chunk list must satisfy: positions 0..n-1, no empty chunk, size bound, and the text
 * is found within its line range of the document.
 */
export function checkChunkInvariants(doc: LoadedDocument, chunks: readonly TextChunk[], maxChars: number): void {
  const lines = doc.text.split("\n");
  chunks.forEach((c, i) => {
    if (c.position !== i) throw new Error(`chunk ${i} has position ${c.position}`);
    if (c.text.trim().length === 0) throw new Error(`chunk ${i} is empty`);
    if (c.text.length > maxChars) throw new Error(`chunk ${i} has ${c.text.length} > ${maxChars} characters`);
    if (c.lineStart < 1 || c.lineEnd < c.lineStart || c.lineEnd > lines.length) {
      throw new Error(`chunk ${i} has a bad line range ${c.lineStart}-${c.lineEnd}`);
    }
    const region = lines.slice(c.lineStart - 1, c.lineEnd).join("\n");
    const prose = doc.fileType !== "code" && doc.fileType !== "json" && doc.fileType !== "yaml";
    if (!(prose ? collapseBlankLines(region) : region).includes(c.text)) {
      throw new Error(`chunk ${i} text is not inside lines ${c.lineStart}-${c.lineEnd}`);
    }
    const firstLine = c.text.split("\n")[0]!;
    const lastLine = c.text.split("\n").at(-1)!;
    if (!lines[c.lineStart - 1]!.includes(firstLine))
      throw new Error(`chunk ${i} does not start on line ${c.lineStart}`);
    if (!lines[c.lineEnd - 1]!.includes(lastLine)) throw new Error(`chunk ${i} does not end on line ${c.lineEnd}`);
  });
}
