import type { SkipReason } from "../types.js";

/** How many leading bytes the binary sniffing looks at. */
export const SNIFF_BYTES = 8192;
/** Share of control characters (other than tab, newlines, form feed, escape) above which a file is binary. */
const CONTROL_RATIO_LIMIT = 0.1;

export type DecodeResult =
  | { ok: true; text: string /** Set when the text was not UTF-8 and was read with a fallback. */; note?: string }
  | { ok: false; reason: SkipReason; detail: string };

/**
 * Read when a file without a BOM or declared charset is not valid UTF-8: windows-1252 (a superset of the
 * printable Latin-1 range) decodes every byte, and is what such files almost always are (older Western
 * European text, Windows exports).
 */
export const FALLBACK_ENCODING = "windows-1252";

/** True when the first bytes look like a binary file: a NUL byte, or many control characters. */
export function looksBinary(bytes: Uint8Array): boolean {
  const n = Math.min(bytes.length, SNIFF_BYTES);
  if (n === 0) return false;
  let control = 0;
  for (let i = 0; i < n; i++) {
    const b = bytes[i]!;
    if (b === 0) return true;
    if ((b < 0x20 && b !== 0x09 && b !== 0x0a && b !== 0x0d && b !== 0x0c && b !== 0x1b) || b === 0x7f) control++;
  }
  return control / n > CONTROL_RATIO_LIMIT;
}

/** Unify line endings to `\n`. */
export function normalizeNewlines(text: string): string {
  return text.indexOf("\r") === -1 ? text : text.replace(/\r\n?/g, "\n");
}

/**
 * Decode a text file strictly: UTF-8 (an optional BOM is dropped), or UTF-16 when it starts with a BOM.
 * Binary content and invalid byte sequences are reported, never replaced with U+FFFD.
 * `charset` (from an HTTP Content-Type) is honoured when it names another encoding the runtime knows.
 */
export function decodeText(bytes: Uint8Array, charset?: string): DecodeResult {
  let encoding = "utf-8";
  let start = 0;
  if (bytes.length >= 3 && bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf) {
    start = 3;
  } else if (bytes.length >= 2 && bytes[0] === 0xff && bytes[1] === 0xfe) {
    encoding = "utf-16le";
    start = 2;
  } else if (bytes.length >= 2 && bytes[0] === 0xfe && bytes[1] === 0xff) {
    encoding = "utf-16be";
    start = 2;
  } else if (charset !== undefined) {
    encoding = charset.trim().toLowerCase();
  }
  const body = bytes.subarray(start);
  const utf16 = encoding === "utf-16le" || encoding === "utf-16be" || encoding === "utf-16";
  if (!utf16 && looksBinary(body)) return { ok: false, reason: "binary", detail: "binary content" };
  let decoder: InstanceType<typeof TextDecoder>;
  try {
    decoder = new TextDecoder(encoding, { fatal: true, ignoreBOM: true });
  } catch {
    return { ok: false, reason: "undecodable", detail: `unsupported charset ${encoding}` };
  }
  let text: string;
  try {
    text = decoder.decode(body);
  } catch {
    if (encoding !== "utf-8" || charset !== undefined) {
      return { ok: false, reason: "undecodable", detail: `invalid ${decoder.encoding.toUpperCase()}` };
    }
    const fallback = new TextDecoder(FALLBACK_ENCODING, { ignoreBOM: true }).decode(body);
    return { ok: true, text: normalizeNewlines(fallback), note: `not valid UTF-8; decoded as ${FALLBACK_ENCODING}` };
  }
  if (utf16 && text.includes("\u0000")) return { ok: false, reason: "binary", detail: "binary content" };
  return { ok: true, text: normalizeNewlines(text) };
}

/** True when a string has nothing but whitespace. */
export function isBlank(text: string): boolean {
  return !/\S/.test(text);
}
