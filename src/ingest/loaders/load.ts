import type { FileType } from "../../store/types.js";
import { sha256Hex } from "../hash.js";
import type { LoadedDocument, SkippedSource } from "../types.js";
import { decodeText, isBlank } from "./decode.js";
import type { DetectedType } from "./filetypes.js";
import { htmlToText } from "./html.js";
import { loadMarkdown } from "./markdown.js";
import { pdfToText } from "./pdf.js";

/** A loaded document, or why the source was skipped (tell them apart with {@link isSkipped} or `"reason" in`). */
export type LoadResult = LoadedDocument | SkippedSource;

export function isSkipped(result: LoadResult): result is SkippedSource {
  return "reason" in result;
}

export function skip(source: string, reason: SkippedSource["reason"], detail?: string): SkippedSource {
  return detail === undefined ? { source, reason } : { source, reason, detail };
}

/**
 * Turn raw bytes into a document. `type` says how to read them (from the file name or the HTTP content type);
 * undefined means "plain text if it decodes as such". `charset` comes from an HTTP Content-Type.
 */
export async function loadBytes(
  bytes: Uint8Array,
  source: string,
  type: DetectedType | undefined,
  charset?: string,
): Promise<LoadResult> {
  const sourceHash = sha256Hex(bytes);
  const fileType: FileType = type?.fileType ?? "text";
  if (bytes.length === 0) return skip(source, "empty", "empty file");
  let text: string;
  let title: string | undefined;
  let tags: string[] | undefined;
  let note: string | undefined;
  if (fileType === "pdf") {
    const pdf = await pdfToText(bytes);
    if (!pdf.ok) return skip(source, pdf.reason, pdf.detail);
    if (isBlank(pdf.text)) return skip(source, "empty", "no text layer (scanned PDF?)");
    text = pdf.text;
    title = pdf.title;
  } else {
    const decoded = decodeText(bytes, charset);
    if (!decoded.ok) return skip(source, decoded.reason, decoded.detail);
    text = decoded.text;
    note = decoded.note;
    if (fileType === "markdown") {
      const md = loadMarkdown(text);
      text = md.text;
      title = md.title;
      tags = md.tags;
    } else if (fileType === "html") {
      const html = htmlToText(text);
      text = html.text;
      title = html.title;
    }
  }
  if (isBlank(text)) return skip(source, "empty", "no text");
  const doc: LoadedDocument = { source, fileType, text, sourceHash };
  if (type?.language !== undefined) doc.language = type.language;
  if (title !== undefined) doc.title = title;
  if (tags !== undefined && tags.length > 0) doc.tags = tags;
  if (note !== undefined) doc.note = note;
  return doc;
}
