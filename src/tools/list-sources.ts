import { z } from "zod";
import { UsageError } from "../errors.js";
import { FILE_TYPES, type SourceInfo } from "../store/types.js";
import type { MragContext } from "./context.js";
import { isoTime } from "./format.js";
import { defineTool, outputBudgetChars } from "./tool.js";
import { boundedInt, sourceArg } from "./validation.js";

export const LIST_MAX_LIMIT = 1000;
const SOURCE_OVERHEAD_CHARS = 160;

export const ListSourcesInputSchema = z
  .object({
    prefix: sourceArg("prefix", "prefix must not be empty; omit it to list everything")
      .optional()
      .describe("Only sources whose id starts with this (e.g. 'docs/api/' or 'https://example.com/')."),
    limit: boundedInt("limit", 1, LIST_MAX_LIMIT).default(100).describe("Sources per page (default 100)."),
    cursor: z
      .string()
      .min(1, "cursor must not be empty; omit it for the first page")
      .optional()
      .describe("`nextCursor` from the previous page."),
  })
  .strict();

const SourceSchema = z.object({
  source: z.string(),
  chunks: z.number().int(),
  fileType: z.enum(FILE_TYPES),
  tags: z.array(z.string()),
  ingestedAt: z.string().nullable().describe("ISO time of the last ingest that changed this source."),
});

export const ListSourcesOutputSchema = z.object({
  sources: z.array(SourceSchema),
  total: z.number().int().describe("Sources matching the prefix, over all pages."),
  nextCursor: z.string().optional().describe("Pass as `cursor` for the next page; absent on the last page."),
});
export type ListSourcesOutput = z.infer<typeof ListSourcesOutputSchema>;

/** Cursors are opaque to callers: the last source id of the page (ids are unique and sorted). */
export function encodeCursor(lastSource: string): string {
  return Buffer.from(JSON.stringify({ after: lastSource }), "utf8").toString("base64url");
}

export function decodeCursor(cursor: string, field = "cursor"): string {
  try {
    const parsed: unknown = JSON.parse(Buffer.from(cursor, "base64url").toString("utf8"));
    if (parsed && typeof parsed === "object" && typeof (parsed as { after?: unknown }).after === "string") {
      return (parsed as { after: string }).after;
    }
  } catch {
    // fall through to the error below
  }
  throw new UsageError(`${field}: not a cursor returned by this server; omit it to start from the first page`);
}

/**
 * The stored sources (optionally under a prefix) sorted by id, and those after `cursor`: the paging that
 * `list_sources` and resources/list share. Nothing ingested yet is an empty list, not an error; a cursor
 * this server did not make is a UsageError naming `cursor`.
 */
export async function sourcesAfter(
  context: MragContext,
  options: { prefix?: string; cursor?: string },
): Promise<{ total: number; rest: SourceInfo[] }> {
  const store = await context.store();
  if (!(await store.listCollections()).some((c) => c.name === context.config.collection)) {
    return { total: 0, rest: [] };
  }
  const collection = await context.collection({ create: false });
  const all = (await collection.listSources(options.prefix ? { prefix: options.prefix } : {})).sort((a, b) =>
    a.source < b.source ? -1 : a.source > b.source ? 1 : 0,
  );
  const after = options.cursor === undefined ? undefined : decodeCursor(options.cursor);
  return { total: all.length, rest: after === undefined ? all : all.filter((s) => s.source > after) };
}

export function renderSources(output: ListSourcesOutput): string {
  if (output.total === 0) return "No sources are stored yet (or none match the prefix). Use `ingest` to add some.";
  const lines = output.sources.map(
    (s) =>
      `${s.source}  ${s.chunks} chunks, ${s.fileType}${s.tags.length ? `, tags ${s.tags.join(",")}` : ""}${s.ingestedAt ? `, ${s.ingestedAt}` : ""}`,
  );
  const more = output.nextCursor ? `\n${output.total} sources in all; next page: cursor ${output.nextCursor}` : "";
  return `${lines.join("\n")}${more}`;
}

export const listSourcesTool = defineTool({
  name: "list_sources",
  title: "List ingested sources",
  description:
    "List the ingested sources (files, URLs, inline texts) with chunk counts, file type, tags and last ingest time, " +
    "sorted by id. Use it to see what the knowledge base holds, to find a source id for `read` or a " +
    "`filter.sourcePrefix` for `search`. Paginated: pass `nextCursor` back as `cursor`.",
  input: ListSourcesInputSchema,
  output: ListSourcesOutputSchema,
  annotations: { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false },
  writes: false,
  async handler(context, input) {
    const { total, rest } = await sourcesAfter(context, {
      ...(input.prefix ? { prefix: input.prefix } : {}),
      ...(input.cursor !== undefined ? { cursor: input.cursor } : {}),
    });
    const budget = outputBudgetChars(context);
    const page: ListSourcesOutput["sources"] = [];
    let used = 0;
    for (const s of rest) {
      if (page.length >= input.limit) break;
      const cost = 2 * (s.source.length + s.tags.join(",").length) + SOURCE_OVERHEAD_CHARS;
      if (page.length > 0 && used + cost > budget) break;
      used += cost;
      page.push({
        source: s.source,
        chunks: s.chunks,
        fileType: s.fileType,
        tags: s.tags,
        ingestedAt: isoTime(s.ingestedAt),
      });
    }
    const last = page.at(-1);
    return {
      sources: page,
      total,
      ...(last && page.length < rest.length ? { nextCursor: encodeCursor(last.source) } : {}),
    };
  },
  render: renderSources,
});
