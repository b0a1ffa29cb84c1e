import { z } from "zod";
import { UsageError } from "../errors.js";
import { SEARCH_MODES, SearchFilterSchema, type SearchHit } from "../store/types.js";
import type { MragContext } from "./context.js";

export const SEARCH_MAX_K = 50;

export const SearchInputSchema = z
  .object({
    query: z
      .string()
      .max(4000, "query is longer than 4000 characters; shorten it")
      .refine((q) => q.trim().length > 0, "query must not be empty; pass the words to search for"),
    k: z
      .number()
      .int("k must be a whole number")
      .min(1, `k must be between 1 and ${SEARCH_MAX_K}`)
      .max(SEARCH_MAX_K, `k must be between 1 and ${SEARCH_MAX_K}`)
      .default(8),
    mode: z.enum(SEARCH_MODES).default("hybrid"),
    filter: SearchFilterSchema.optional(),
  })
  .strict();
export type SearchInput = z.input<typeof SearchInputSchema>;

export const SearchHitSchema = z.object({
  id: z.string(),
  source: z.string(),
  text: z.string(),
  score: z.number(),
  heading: z.string().optional(),
  headingPath: z.array(z.string()),
  lineStart: z.number().int(),
  lineEnd: z.number().int(),
  position: z.number().int(),
  fileType: z.string(),
  tags: z.array(z.string()),
});
export type SearchHitOutput = z.infer<typeof SearchHitSchema>;
export const SearchOutputSchema = z.object({ hits: z.array(SearchHitSchema) });
export type SearchOutput = z.infer<typeof SearchOutputSchema>;

/** Turn zod issues into one line that names the field and the fix. */
export function explainInvalid(error: z.ZodError, what: string): UsageError {
  const lines = error.issues.map((issue) => {
    const field = issue.path.length > 0 ? issue.path.join(".") : what;
    if (issue.code === "unrecognized_keys") {
      const where = issue.path.length > 0 ? `${field}: ` : "";
      return `${where}unknown key(s) ${issue.keys.map((k) => `"${k}"`).join(", ")}; remove them`;
    }
    return `${field}: ${issue.message}`;
  });
  return new UsageError(`invalid ${what}: ${lines.join("; ")}`);
}

export function toHitOutput(hit: SearchHit): SearchHitOutput {
  const c = hit.chunk;
  return {
    id: c.id,
    source: c.source,
    text: c.text,
    score: hit.score,
    ...(c.headingPath.length > 0 ? { heading: c.headingPath.join(" > ") } : {}),
    headingPath: c.headingPath,
    lineStart: c.lineStart,
    lineEnd: c.lineEnd,
    position: c.position,
    fileType: c.fileType,
    tags: c.tags,
  };
}

/** Search the configured collection. Keyword mode never loads the embedding model. */
export async function searchHandler(context: MragContext, rawInput: unknown): Promise<SearchOutput> {
  const parsed = SearchInputSchema.safeParse(rawInput);
  if (!parsed.success) throw explainInvalid(parsed.error, "search arguments");
  const input = parsed.data;
  const collection = await context.collection({ create: false });
  const vector = input.mode === "keyword" ? undefined : await (await context.embedder()).embedQuery(input.query);
  const hits = await collection.search({
    mode: input.mode,
    k: input.k,
    text: input.query,
    ...(vector ? { vector } : {}),
    ...(input.filter ? { filter: input.filter } : {}),
  });
  return { hits: hits.map(toHitOutput) };
}
