import { z } from "zod";
import { UsageError } from "../errors.js";
import type { Embedder } from "./types.js";

/**
 * `mrag embed`: texts in, vectors out, so that other tools (pymilvus, a notebook, another database) can build
 * or query collections with mrag's own model. Input is either texts given directly or JSONL, one
 * `{"text": "...", "id": ...}` object per line; `id` (optional, string or number) is handed back with the
 * vector and every other key is ignored.
 */
export const EmbedLineSchema = z.object({
  text: z.string(),
  id: z.union([z.string(), z.number()]).optional(),
});

export interface EmbedItem {
  text: string;
  id?: string | number;
}

/** Documents get the model's passage prefix, queries its query prefix (they differ for e5 / bge models). */
export type EmbedKind = "document" | "query";

export interface EmbedResult {
  model: string;
  dimension: number;
  kind: EmbedKind;
  items: { id?: string | number; vector: number[] }[];
}

const LINE_HINT = 'each line must be a JSON object like {"text": "..."}';

/** Parse JSONL input; blank lines are skipped, anything else that is not `{"text": string}` is refused by line. */
export function parseEmbedJsonl(input: string, where = "stdin"): EmbedItem[] {
  const items: EmbedItem[] = [];
  const lines = input.split(/\r?\n/);
  for (const [i, line] of lines.entries()) {
    if (line.trim() === "") continue;
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch {
      throw new UsageError(`${where} line ${i + 1}: not valid JSON; ${LINE_HINT}`);
    }
    const parsed = EmbedLineSchema.safeParse(value);
    if (!parsed.success) {
      const field = parsed.error.issues[0]?.path[0];
      const problem =
        typeof value !== "object" || value === null || Array.isArray(value)
          ? "not an object"
          : field === "id"
            ? "id: must be a string or a number (or left out)"
            : `text: ${"text" in value ? "must be a string" : "missing"}`;
      throw new UsageError(`${where} line ${i + 1}: ${problem}; ${LINE_HINT}`);
    }
    items.push(parsed.data.id === undefined ? { text: parsed.data.text } : parsed.data);
  }
  return items;
}

/**
 * Shortest decimal that reads back as the same float32: 9 significant digits always round-trip a float32, so
 * the JSON is about half the size of the float64 expansion and a reader gets bit-identical vectors.
 */
export function float32Json(value: number): number {
  return Number(Math.fround(value).toPrecision(9));
}

/** Embed the items in order with the given (initialised) embedder. */
export async function embedTexts(
  embedder: Embedder,
  items: readonly EmbedItem[],
  kind: EmbedKind,
): Promise<EmbedResult> {
  const texts = items.map((item) => item.text);
  const vectors =
    kind === "query"
      ? await Promise.all(texts.map((t) => embedder.embedQuery(t)))
      : await embedder.embedDocuments(texts);
  return {
    model: embedder.modelId,
    dimension: vectors[0]?.length ?? embedder.dimension,
    kind,
    items: items.map((item, i) => ({
      ...(item.id === undefined ? {} : { id: item.id }),
      vector: Array.from(vectors[i] ?? [], float32Json),
    })),
  };
}
