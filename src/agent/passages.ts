/**
 * The passage book: every chunk the agent has retrieved, numbered in the order first seen. gpt-oss was trained
 * on a browser tool whose results are numbered passages cited as `【3†L10-L15】` (../shared/GUIDE.md §1), so
 * tool results are shown to it in that form, and the numbers never change during a run: a chunk seen again
 * keeps its number, and keeps the longest text seen (a `read` of the whole chunk replaces a search snippet).
 */

import { z } from "zod";
import { lineRange } from "../tools/format.js";
import type { Passage } from "./types.js";
import { neutraliseControlTokens, neutraliseData } from "./untrusted.js";

export { neutraliseControlTokens } from "./untrusted.js";

/** Where a hit or chunk comes from: the fields a passage header is made of. */
const placeFields = {
  id: z.string().min(1),
  source: z.string(),
  heading: z.string().optional(),
  lineStart: z.number().int(),
  lineEnd: z.number().int(),
};

/** The parts of mrag's `search` output the book uses (unknown fields are ignored). */
const SearchResultSchema = z.object({
  hits: z.array(
    z.object({
      ...placeFields,
      snippet: z.string(),
      snippetTruncated: z.boolean().default(false),
    }),
  ),
  note: z.string().optional(),
});

/** The parts of mrag's `read` output the book uses (unknown fields are ignored). */
const ReadResultSchema = z.object({
  chunks: z.array(
    z.object({
      ...placeFields,
      role: z.string().optional(),
      text: z.string().optional(),
    }),
  ),
  source: z
    .object({
      source: z.string(),
      lineStart: z.number().int(),
      lineEnd: z.number().int(),
      totalLines: z.number().int().optional(),
      text: z.string(),
    })
    .optional(),
  note: z.string().optional(),
});
type ReadResult = z.infer<typeof ReadResultSchema>;

/** Key of a source read, whose merged text belongs to no single chunk. */
export function sourcePassageId(source: string, lineStart: number, lineEnd: number): string {
  return `source:${source}:${lineStart}-${lineEnd}`;
}

/**
 * A passage number in any form the model writes it: 3, "3", "[3]", "#3", "【3】", "【3†L10-L15】", "[3†L10]".
 * undefined when `ref` is not a number reference.
 */
export function passageNumber(ref: string | number): number | undefined {
  if (typeof ref === "number") return Number.isInteger(ref) && ref > 0 ? ref : undefined;
  const m = /^[[【(]?\s*#?\s*(\d{1,9})\s*(?:†[^\]】)]*)?[\]】)]?$/u.exec(ref.trim());
  return m ? Number(m[1]) : undefined;
}

export class PassageBook {
  readonly #byId = new Map<string, Passage>();
  readonly #list: Passage[] = [];

  get size(): number {
    return this.#list.length;
  }

  /** Records each hit of a `search` structured result; returns the passages touched, in hit order. */
  addSearchResult(structured: unknown): Passage[] {
    const parsed = SearchResultSchema.safeParse(structured);
    if (!parsed.success) return [];
    return this.#touch(parsed.data.hits.map((hit) => ({ ...hit, text: hit.snippet })));
  }

  /**
   * Records each chunk of a `read` structured result (its full text). A source read is one passage keyed
   * `source:<source>:<lineStart>-<lineEnd>`, since its text is merged from several chunks.
   */
  addReadResult(structured: unknown): Passage[] {
    const parsed = ReadResultSchema.safeParse(structured);
    if (!parsed.success) return [];
    return this.#touch(readEntries(parsed.data));
  }

  /** By number (any form `passageNumber` accepts) or by chunk id / source-read key. */
  get(ref: string | number): Passage | undefined {
    const n = passageNumber(ref);
    const byNumber = n === undefined ? undefined : this.#list[n - 1];
    if (byNumber) return { ...byNumber };
    if (typeof ref !== "string") return undefined;
    const byId = this.#byId.get(ref.trim());
    return byId ? { ...byId } : undefined;
  }

  /** Every passage, by number. */
  all(): Passage[] {
    return this.#list.map((p) => ({ ...p }));
  }

  /**
   * The text the model sees for a tool result. For mrag's `search` and `read` (pass the tool's name on the mrag
   * server), the hits or chunks as numbered passages `【n】 source:lines — heading`, their chunk id (for `read`)
   * and text; the passages are recorded in the book as a side effect (recording the same result twice is
   * harmless). Anything else, or a result of unexpected shape, gets `fallbackText`. Everything a document or
   * another server controls (text, heading, source, the fallback) is neutralised (`neutraliseData`); the result is
   * meant to go inside a fence (`untrusted.ts`).
   */
  renderForModel(toolName: string, structured: unknown, fallbackText: string): string {
    return neutraliseControlTokens(this.#render(toolName, structured, fallbackText));
  }

  #render(toolName: string, structured: unknown, fallbackText: string): string {
    if (toolName === "search") {
      const parsed = SearchResultSchema.safeParse(structured);
      if (!parsed.success || parsed.data.hits.length === 0) return neutraliseData(fallbackText);
      const touched = this.addSearchResult(parsed.data);
      const blocks = parsed.data.hits.map((hit) => {
        const p = touched.find((t) => t.id === hit.id) as Passage;
        const more = hit.snippetTruncated ? `\n(snippet; read id=${hit.id} for the full text)` : "";
        return `${header(p)}\nid: ${hit.id}\n${neutraliseData(hit.snippet.trim())}${more}`;
      });
      if (parsed.data.note) blocks.push(parsed.data.note);
      return blocks.join("\n\n");
    }
    if (toolName === "read") {
      const parsed = ReadResultSchema.safeParse(structured);
      if (!parsed.success) return neutraliseData(fallbackText);
      const touched = this.addReadResult(parsed.data);
      if (touched.length === 0) return neutraliseData(fallbackText);
      const blocks = readEntries(parsed.data).map((entry) => {
        const p = touched.find((t) => t.id === entry.id) as Passage;
        if (entry.id.startsWith("source:")) {
          const total = parsed.data.source?.totalLines;
          return `${header(p)}${total ? ` (of ${total} lines)` : ""}\n${neutraliseData(entry.text)}`;
        }
        const role = entry.role && entry.role !== "requested" ? ` (${entry.role})` : "";
        return `${header(p)}${role}\nid: ${entry.id}\n${neutraliseData(entry.text)}`;
      });
      if (parsed.data.note) blocks.push(parsed.data.note);
      return blocks.join("\n\n");
    }
    return neutraliseData(fallbackText);
  }

  #touch(entries: Entry[]): Passage[] {
    const touched: Passage[] = [];
    for (const entry of entries) {
      let passage = this.#byId.get(entry.id);
      if (!passage) {
        passage = {
          n: this.#list.length + 1,
          id: entry.id,
          source: entry.source,
          ...(entry.heading ? { heading: entry.heading } : {}),
          lineStart: entry.lineStart,
          lineEnd: entry.lineEnd,
          text: entry.text,
        };
        this.#list.push(passage);
        this.#byId.set(entry.id, passage);
      } else {
        if (entry.text.length > passage.text.length) passage.text = entry.text;
        if (!passage.heading && entry.heading) passage.heading = entry.heading;
      }
      if (!touched.some((t) => t.n === passage.n)) touched.push({ ...passage });
    }
    return touched;
  }
}

interface Entry {
  id: string;
  source: string;
  heading?: string | undefined;
  lineStart: number;
  lineEnd: number;
  role?: string | undefined;
  text: string;
}

function readEntries(result: ReadResult): Entry[] {
  if (result.source) {
    const s = result.source;
    return [{ id: sourcePassageId(s.source, s.lineStart, s.lineEnd), ...s, role: "source" }];
  }
  return result.chunks.flatMap((c) => (c.text === undefined ? [] : [{ ...c, text: c.text }]));
}

/** `【n】 source:lines — heading`; the source and heading come from the document, so they are neutralised. */
function header(p: Passage): string {
  const source = neutraliseData(p.source).replace(/\s+/g, " ");
  const heading = p.heading ? ` — ${neutraliseData(p.heading).replace(/\s+/g, " ")}` : "";
  return `【${p.n}】 ${source}${lineRange(p)}${heading}`;
}
