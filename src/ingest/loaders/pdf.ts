import type { SkipReason } from "../types.js";
import { normalizeNewlines } from "./decode.js";

export type PdfResult = { ok: true; text: string; title?: string } | { ok: false; reason: SkipReason; detail: string };

/** Separator between pages in the document text; the chunker starts a new `Page N` section at each one. */
export const PAGE_BREAK = "\n\f\n";

function hasPdfHeader(bytes: Uint8Array): boolean {
  const n = Math.min(bytes.length, 1024) - 5;
  for (let i = 0; i <= n; i++) {
    if (
      bytes[i] === 0x25 &&
      bytes[i + 1] === 0x50 &&
      bytes[i + 2] === 0x44 &&
      bytes[i + 3] === 0x46 &&
      bytes[i + 4] === 0x2d
    ) {
      return true;
    }
  }
  return false;
}

/**
 * Text of every page (PDF.js through unpdf, loaded on first use), pages joined with a form-feed line.
 * A file PDF.js cannot open (malformed, encrypted) is reported as undecodable; a PDF without a text layer
 * (scanned pages) gives blank text, which the caller reports as empty.
 */
export async function pdfToText(bytes: Uint8Array): Promise<PdfResult> {
  if (!hasPdfHeader(bytes)) return { ok: false, reason: "undecodable", detail: "not a PDF file (no %PDF- header)" };
  const { getDocumentProxy, extractText, getMeta } = await import("unpdf");
  let pdf: Awaited<ReturnType<typeof getDocumentProxy>>;
  try {
    // PDF.js takes ownership of (detaches) the buffer it is given: pass a copy.
    pdf = await getDocumentProxy(new Uint8Array(bytes), { verbosity: 0, isEvalSupported: false, stopAtErrors: false });
  } catch (error) {
    const name = error instanceof Error ? error.name : "";
    const detail =
      name === "PasswordException"
        ? "encrypted PDF (password required)"
        : `invalid PDF: ${(error as Error).message ?? error}`;
    return { ok: false, reason: "undecodable", detail };
  }
  try {
    const { text: pages } = await extractText(pdf, { mergePages: false });
    const text = pages.map((p) => normalizeNewlines(p).replace(/\f/g, " ").trim()).join(PAGE_BREAK);
    let title: string | undefined;
    try {
      const info: unknown = (await getMeta(pdf)).info;
      if (typeof info === "object" && info !== null && "Title" in info) {
        const t = (info as { Title: unknown }).Title;
        if (typeof t === "string" && t.trim().length > 0) title = t.trim();
      }
    } catch {
      // Metadata is optional.
    }
    return title === undefined ? { ok: true, text } : { ok: true, text, title };
  } catch (error) {
    return { ok: false, reason: "undecodable", detail: `unreadable PDF content: ${(error as Error).message ?? error}` };
  } finally {
    await pdf.destroy().catch(() => {});
  }
}
