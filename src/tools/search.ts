import { z } from "zod";
import { isZeroVector } from "../embed/vector.js";
import { latinShare } from "../store/scripts.js";
import { MAX_K, SEARCH_MODES, SearchFilterSchema, type SearchHit } from "../store/types.js";
import type { MragContext } from "./context.js";
import { lineRange } from "./format.js";
import { rerankHits } from "./rerank.js";
import { makeSnippet } from "./snippet.js";
import { defineTool, outputBudgetChars } from "./tool.js";
import { boundedInt, dropNullOptionals, explainInvalid, noNul } from "./validation.js";

export const SEARCH_MAX_K = 50;
export const SNIPPET_MAX_CHARS = 4000;
export const DEFAULT_SNIPPET_CHARS = 500;

export const SearchInputSchema = z
  .object({
    query: z
      .string()
      .max(4000, "query is longer than 4000 characters; shorten it")
      .refine((q) => q.trim().length > 0, "query must not be empty; pass the words to search for")
      .describe("What to look for: a question or keywords, in natural language. The server embeds it."),
    // k and mode default to the server's search.k / search.mode (8 and hybrid unless configured), so an
    // operator's choice holds for MCP clients and the agent as it does for `mrag search`.
    k: boundedInt("k", 1, SEARCH_MAX_K)
      .optional()
      .describe(`Number of hits, 1-${SEARCH_MAX_K} (default: the server's search.k, 8 unless configured).`),
    mode: z
      .enum(SEARCH_MODES)
      .optional()
      .describe(
        "hybrid (meaning + exact words), dense (meaning only) or keyword (BM25, exact words); default: the server's search.mode, hybrid unless configured.",
      ),
    filter: SearchFilterSchema.superRefine((filter, ctx) => {
      const [prefixOk, prefixMessage] = noNul("sourcePrefix");
      if (filter.sourcePrefix !== undefined && !prefixOk(filter.sourcePrefix)) {
        ctx.addIssue({ code: "custom", path: ["sourcePrefix"], message: prefixMessage });
      }
      const [tagOk, tagMessage] = noNul("tags");
      for (const [i, tag] of (filter.tags ?? []).entries()) {
        if (!tagOk(tag)) ctx.addIssue({ code: "custom", path: ["tags", i], message: tagMessage });
      }
    })
      .optional()
      .describe("Narrow the search: sourcePrefix (e.g. 'docs/api/'), tags (any of), fileTypes (any of)."),
    rerank: z
      .boolean()
      .optional()
      .describe(
        "Rescore the top hits with the server's reranker model (slower, often more precise); default: the server's search.rerank, off unless configured.",
      ),
    snippet_chars: boundedInt("snippet_chars", 0, SNIPPET_MAX_CHARS)
      .default(DEFAULT_SNIPPET_CHARS)
      .describe(`Characters of text per hit, around the first query word found (default ${DEFAULT_SNIPPET_CHARS}).`),
  })
  .strict();
export type SearchInput = z.input<typeof SearchInputSchema>;

/**
 * One hit, as lean as its text rendering: clients such as Claude Code hand the model this JSON rather than the
 * text, so nothing is repeated (the heading path is one string, the rank is the array order plus one, tags only
 * when there are some) and the snippet is bounded exactly like the text's.
 */
export const SearchHitSchema = z.object({
  rank: z.number().int().min(1),
  id: z.string().describe("Stable chunk id: pass it to `read` for the full text and its neighbours."),
  source: z.string(),
  heading: z.string().optional().describe("Heading path of the chunk's section, outermost first, joined by ' > '."),
  lineStart: z.number().int().describe("1-based first line in the source; 0 when unknown."),
  lineEnd: z.number().int(),
  score: z.number(),
  snippet: z.string(),
  snippetTruncated: z.boolean().describe("True when the snippet is shorter than the chunk: `read` gives all of it."),
  tags: z.array(z.string()).optional(),
});
export type SearchHitOutput = z.infer<typeof SearchHitSchema>;

export const SearchOutputSchema = z.object({
  query: z.string(),
  mode: z.enum(SEARCH_MODES),
  hits: z.array(SearchHitSchema),
  truncated: z.boolean().describe("True when the output budget cut snippets or hits; `note` says how."),
  note: z.string().optional(),
});
export type SearchOutput = z.infer<typeof SearchOutputSchema>;

/** JSON overhead of one hit besides its snippet (ids, source, headings, numbers), for budgeting. */
const HIT_OVERHEAD_CHARS = 300;
/** Snippets are never cut below this by the budget; hits are dropped instead. */
const MIN_BUDGET_SNIPPET = 120;

function toHitOutput(hit: SearchHit, rank: number, query: string, snippetChars: number): SearchHitOutput {
  const c = hit.chunk;
  const snippet = makeSnippet(c.text, query, snippetChars);
  return {
    rank,
    id: c.id,
    source: c.source,
    ...(c.headingPath.length > 0 ? { heading: c.headingPath.join(" > ") } : {}),
    lineStart: c.lineStart,
    lineEnd: c.lineEnd,
    // Four decimals, as the text shows: more digits are tokens that order nothing.
    score: Math.round(hit.score * 10_000) / 10_000,
    snippet: snippet.text,
    snippetTruncated: snippet.truncated,
    ...(c.tags.length > 0 ? { tags: c.tags } : {}),
  };
}

/**
 * Fit hits into the budget: first shorten snippets (never below MIN_BUDGET_SNIPPET), then drop the lowest
 * ranked hits. Both the structured result and its text rendering carry each snippet, hence the factor 2.
 */
function planBudget(hitCount: number, snippetChars: number, budget: number): { snippetChars: number; keep: number } {
  if (hitCount === 0) return { snippetChars, keep: 0 };
  const perHit = Math.floor(budget / hitCount / 2) - HIT_OVERHEAD_CHARS;
  if (perHit >= snippetChars) return { snippetChars, keep: hitCount };
  if (perHit >= MIN_BUDGET_SNIPPET) return { snippetChars: perHit, keep: hitCount };
  const shortest = Math.min(snippetChars, MIN_BUDGET_SNIPPET);
  const keep = Math.max(1, Math.floor(budget / 2 / (shortest + HIT_OVERHEAD_CHARS)));
  return { snippetChars: shortest, keep: Math.min(keep, hitCount) };
}

/**
 * The hybrid fusion weight of the dense branch (keyword's is 1) when `search.denseWeight` is unset: what
 * `mrag eval retrieval` measured per model quality. The static builtin model is weaker than BM25 on entity
 * questions and gets 0.5; a transformer (all-MiniLM-L6-v2 measured; hub and OpenAI models are at least as
 * strong) gets 1, which raised milvus-faq hybrid recall@1 from 0.750 to 0.833 (docs/benchmarks.md).
 */
export function denseWeightFor(embedder: string): number {
  return embedder === "builtin" ? 0.5 : 1;
}

/**
 * The dense weight for one hybrid query. The builtin model reads Latin-script words only: of a Chinese question
 * with one option name in it, its vector is that option name, so its ranking counts for the share of the query it
 * read (on the zh/ja/ko set, a full weight made hybrid rank below keyword alone). Other models are taken at
 * their word.
 */
export function queryDenseWeight(embedder: string, configured: number | undefined, query: string): number {
  const weight = configured ?? denseWeightFor(embedder);
  return embedder === "builtin" ? weight * latinShare(query) : weight;
}

const UNDIRECTED_NOTE =
  "The embedding model knows none of the query's words (the builtin model is English-only; a multilingual " +
  "`embedder` such as hf:<folder of multilingual-e5-small> ranks other languages).";

async function runSearch(context: MragContext, given: z.output<typeof SearchInputSchema>): Promise<SearchOutput> {
  const input = { ...given, k: given.k ?? context.config.search.k, mode: given.mode ?? context.config.search.mode };
  const collection = await context.collection({ create: false });
  const vector = input.mode === "keyword" ? undefined : await (await context.embedder()).embedQuery(input.query);
  // A query the model has no word for (Chinese for the English builtin model) has no dense ranking: hybrid
  // ranks by keywords alone, dense has nothing to rank by.
  const undirected = vector !== undefined && isZeroVector(vector);
  if (undirected && input.mode === "dense") {
    return {
      query: input.query,
      mode: input.mode,
      hits: [],
      truncated: false,
      note: `${UNDIRECTED_NOTE} Search with mode "keyword" or "hybrid".`,
    };
  }
  const rerank = input.rerank ?? context.config.search.rerank;
  // Reranking reads the first rerankCandidates fused hits even when fewer are asked for.
  const fetch = rerank ? Math.min(MAX_K, Math.max(input.k, context.config.search.rerankCandidates)) : input.k;
  const fused = await collection.search({
    mode: undirected ? "keyword" : input.mode,
    k: fetch,
    text: input.query,
    ...(vector ? { vector } : {}),
    ...(input.filter ? { filter: input.filter } : {}),
    ...(input.mode === "hybrid"
      ? { denseWeight: queryDenseWeight(context.config.embedder, context.config.search.denseWeight, input.query) }
      : {}),
  });
  const hits = rerank ? await rerankHits(context, input.query, fused, input.k) : fused;
  const plan = planBudget(hits.length, input.snippet_chars, outputBudgetChars(context));
  const output: SearchOutput = {
    query: input.query,
    mode: input.mode,
    hits: hits.slice(0, plan.keep).map((hit, i) => toHitOutput(hit, i + 1, input.query, plan.snippetChars)),
    truncated: false,
  };
  if (undirected) output.note = `${UNDIRECTED_NOTE} These hits are ranked by keywords only.`;
  const notes: string[] = [];
  if (plan.snippetChars < input.snippet_chars) notes.push(`snippets shortened to ${plan.snippetChars} characters`);
  if (plan.keep < hits.length) notes.push(`showing ${plan.keep} of ${hits.length} hits`);
  if (notes.length > 0) {
    output.truncated = true;
    output.note =
      (output.note ? `${output.note} ` : "") +
      `Output capped at about ${context.config.server.maxOutputTokens} tokens: ${notes.join(", ")}. ` +
      "Use `read` with a hit's id for its full text, or search again with a smaller k.";
  }
  return output;
}

export function renderSearch(output: SearchOutput): string {
  if (output.hits.length === 0) {
    return (
      `No hits for "${output.query}" (${output.mode}). ` +
      (output.note ?? `Try other words, mode "keyword" for exact terms, or a wider filter.`)
    );
  }
  const blocks = output.hits.map((hit) => {
    const heading = hit.heading ? ` — ${hit.heading}` : "";
    const text = hit.snippet.trim();
    return `[${hit.rank}] ${hit.source}${lineRange(hit)}${heading}\nid: ${hit.id} · score ${hit.score.toFixed(4)}\n${text}${hit.snippetTruncated ? " …" : ""}`;
  });
  const footer =
    output.note ?? "Use `read` with an id for full text and neighbouring chunks; cite as [rank] with the source.";
  return `${blocks.join("\n\n")}\n\n${footer}`;
}

export const searchTool = defineTool({
  name: "search",
  title: "Search the knowledge base",
  description:
    "Search the ingested documents (hybrid meaning + keyword by default) and get numbered hits: a stable chunk id, " +
    "the source, heading path, line range, score and a short snippet (never whole documents). Use it first for " +
    "any question about the ingested material; search again with other words if the hits miss. Then call `read` " +
    "with a hit's id (and before/after) for full text, and cite sources with their line ranges.",
  input: SearchInputSchema,
  output: SearchOutputSchema,
  annotations: { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false },
  writes: false,
  handler: runSearch,
  render: renderSearch,
});

/** For the CLI and tests: validate raw arguments (throwing a UsageError) and search. */
export async function searchHandler(context: MragContext, rawInput: unknown): Promise<SearchOutput> {
  const parsed = SearchInputSchema.safeParse(dropNullOptionals(SearchInputSchema, rawInput), { reportInput: true });
  if (!parsed.success) throw explainInvalid(parsed.error, "search arguments", SearchInputSchema);
  return runSearch(context, parsed.data);
}
