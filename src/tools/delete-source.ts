import { z } from "zod";
import { UsageError } from "../errors.js";
import type { Collection, SourceInfo } from "../store/types.js";
import { defineTool } from "./tool.js";
import { sourceArg } from "./validation.js";

const LISTED = 50;
/** Deleting more sources than this at once needs a confirmation (`--yes` / a prompt / `confirm: true`). */
export const LARGE_DELETE_SOURCES = 20;

/**
 * What to delete. A `prefix` is a path: it matches whole segments (`docs/old` takes `docs/old` and
 * `docs/old/...`, never `docs/old-keep/`), unless `stringPrefix` asks for a bare string match.
 */
export type DeleteSelector = { all: true } | { source: string } | { prefix: string; stringPrefix?: boolean };

/** The sources a selector matches, sorted by id. */
export async function matchSources(collection: Collection, selector: DeleteSelector): Promise<SourceInfo[]> {
  let matched: SourceInfo[];
  if ("all" in selector) matched = await collection.listSources();
  else if ("source" in selector) {
    matched = (await collection.listSources({ prefix: selector.source })).filter((s) => s.source === selector.source);
  } else if (selector.stringPrefix) matched = await collection.listSources({ prefix: selector.prefix });
  else {
    const { exact, under } = pathPrefix(selector.prefix);
    matched = (await collection.listSources({ prefix: exact ?? under })).filter(
      (s) => s.source === exact || s.source.startsWith(under),
    );
  }
  return matched.sort((a, b) => (a.source < b.source ? -1 : a.source > b.source ? 1 : 0));
}

/** Delete what `selector` matches; the caller holds the write lock. Returns the chunks removed. */
export async function deleteMatching(collection: Collection, selector: DeleteSelector): Promise<number> {
  if ("all" in selector) return collection.deleteSources({ prefix: "" });
  if ("source" in selector) return collection.deleteSources({ source: selector.source });
  if (selector.stringPrefix) return collection.deleteSources({ prefix: selector.prefix });
  const { exact, under } = pathPrefix(selector.prefix);
  let removed = exact !== undefined ? await collection.deleteSources({ source: exact }) : 0;
  removed += await collection.deleteSources({ prefix: under });
  return removed;
}

/** `docs/old` -> the source `docs/old` itself and everything under `docs/old/`; `docs/old/` -> only under it. */
function pathPrefix(prefix: string): { exact: string | undefined; under: string } {
  return prefix.endsWith("/") ? { exact: undefined, under: prefix } : { exact: prefix, under: `${prefix}/` };
}

/** When a path prefix matched nothing, a hint naming what a string prefix would take. */
export async function stringPrefixHint(collection: Collection, prefix: string, flag: string): Promise<string> {
  const loose = await collection.listSources({ prefix });
  if (loose.length === 0) return "";
  const example = loose[0]?.source ?? "";
  return (
    `; ${loose.length} source(s) start with ${JSON.stringify(prefix)} as a string (e.g. ${example}): ` +
    `pass ${flag} to delete those`
  );
}

export const DeleteSourceInputSchema = z
  .object({
    source: sourceArg("source", "source must not be empty")
      .optional()
      .describe("Exact source id to delete (as shown by list_sources or search hits)."),
    prefix: sourceArg(
      "prefix",
      "prefix must not be empty: deleting everything is not offered over MCP (use `mrag delete --all`)",
    )
      .optional()
      .describe(
        "Delete the sources under this path, by whole segments: 'docs/old' takes docs/old and docs/old/..., " +
          "not docs/old-keep/.",
      ),
    string_prefix: z
      .boolean()
      .default(false)
      .describe("Match `prefix` as a bare string ('docs/ol' takes docs/old-keep/ too)."),
    dry_run: z.boolean().default(false).describe("List what would be deleted; delete nothing."),
    confirm: z
      .boolean()
      .default(false)
      .describe(`Required to delete more than ${LARGE_DELETE_SOURCES} sources at once (check with dry_run first).`),
  })
  .strict()
  .superRefine((input, ctx) => {
    if ((input.source === undefined) === (input.prefix === undefined)) {
      ctx.addIssue({
        code: "custom",
        path: input.source === undefined ? ["source"] : ["prefix"],
        message: input.source === undefined ? "pass source or prefix" : "pass source or prefix, not both",
      });
    }
    if (input.string_prefix && input.prefix === undefined) {
      ctx.addIssue({ code: "custom", path: ["string_prefix"], message: "string_prefix needs a prefix" });
    }
  });

export const DeleteSourceOutputSchema = z.object({
  deletedSources: z.array(z.string()).describe(`Ids of deleted sources (the first ${LISTED}).`),
  sourceCount: z.number().int(),
  chunksRemoved: z.number().int(),
  dryRun: z.boolean().optional().describe("True when nothing was deleted: these would be."),
  note: z.string().optional(),
});
export type DeleteSourceOutput = z.infer<typeof DeleteSourceOutputSchema>;

export const deleteSourceTool = defineTool({
  name: "delete_source",
  title: "Delete sources",
  description:
    "Permanently remove one source (`source`, exact id) or every source under a path `prefix` (whole segments) " +
    "from the knowledge base, with all their chunks. `dry_run` lists what would go; deleting more than " +
    `${LARGE_DELETE_SOURCES} sources needs \`confirm: true\`. Check ids with \`list_sources\` first. Deleting ` +
    "something that is not stored changes nothing and says so.",
  input: DeleteSourceInputSchema,
  output: DeleteSourceOutputSchema,
  annotations: { readOnlyHint: false, destructiveHint: true, idempotentHint: true, openWorldHint: false },
  writes: true,
  async handler(context, input) {
    const selector: DeleteSelector =
      input.source !== undefined
        ? { source: input.source }
        : { prefix: input.prefix as string, stringPrefix: input.string_prefix };
    const store = await context.store();
    const run = async () => {
      const collection = await context.collection({ create: false });
      const matching = await matchSources(collection, selector);
      const ids = matching.map((s) => s.source);
      const chunks = matching.reduce((n, s) => n + s.chunks, 0);
      if (ids.length === 0) {
        const hint =
          "prefix" in selector && !selector.stringPrefix
            ? await stringPrefixHint(collection, selector.prefix, "string_prefix: true")
            : "";
        return {
          deletedSources: [],
          sourceCount: 0,
          chunksRemoved: 0,
          ...(input.dry_run ? { dryRun: true } : {}),
          note: `Nothing matched, nothing was deleted${hint}; list_sources shows the stored source ids.`,
        };
      }
      if (input.dry_run) {
        return { deletedSources: ids.slice(0, LISTED), sourceCount: ids.length, chunksRemoved: chunks, dryRun: true };
      }
      if (ids.length > LARGE_DELETE_SOURCES && !input.confirm) {
        throw new UsageError(
          `confirm: this would delete ${ids.length} sources (${chunks} chunks), more than ${LARGE_DELETE_SOURCES}; ` +
            "check with dry_run: true, then pass confirm: true",
        );
      }
      const chunksRemoved = await deleteMatching(collection, selector);
      if (chunksRemoved > 0) await collection.optimize();
      return { deletedSources: ids.slice(0, LISTED), sourceCount: ids.length, chunksRemoved };
    };
    return input.dry_run ? run() : store.withWriteLock(run, context.config.lockWaitMs);
  },
  render: (output) => {
    const more = (o: DeleteSourceOutput) => (o.sourceCount > o.deletedSources.length ? " …" : "");
    if (output.sourceCount === 0) return output.note ?? "Nothing deleted.";
    if (output.dryRun) {
      return `Would delete ${output.sourceCount} source(s), ${output.chunksRemoved} chunks (dry run, nothing deleted): ${output.deletedSources.join(", ")}${more(output)}`;
    }
    return `Deleted ${output.sourceCount} source(s), ${output.chunksRemoved} chunks: ${output.deletedSources.join(", ")}${more(output)}`;
  },
});
