import { z } from "zod";
import { defineTool } from "./tool.js";
import { sourceArg } from "./validation.js";

const LISTED = 50;

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
      .describe("Delete every source whose id starts with this, e.g. 'docs/old/'."),
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
  });

export const DeleteSourceOutputSchema = z.object({
  deletedSources: z.array(z.string()).describe(`Ids of deleted sources (the first ${LISTED}).`),
  sourceCount: z.number().int(),
  chunksRemoved: z.number().int(),
  note: z.string().optional(),
});
export type DeleteSourceOutput = z.infer<typeof DeleteSourceOutputSchema>;

export const deleteSourceTool = defineTool({
  name: "delete_source",
  title: "Delete sources",
  description:
    "Permanently remove one source (`source`, exact id) or every source under a `prefix` from the knowledge base, " +
    "with all their chunks. Check ids with `list_sources` first. Deleting something that is not stored changes " +
    "nothing and says so.",
  input: DeleteSourceInputSchema,
  output: DeleteSourceOutputSchema,
  annotations: { readOnlyHint: false, destructiveHint: true, idempotentHint: true, openWorldHint: false },
  writes: true,
  async handler(context, input) {
    const store = await context.store();
    return store.withWriteLock(async () => {
      const collection = await context.collection({ create: false });
      const matching =
        input.source !== undefined
          ? (await collection.listSources({ prefix: input.source })).filter((s) => s.source === input.source)
          : await collection.listSources({ prefix: input.prefix as string });
      const selector = input.source !== undefined ? { source: input.source } : { prefix: input.prefix as string };
      const chunksRemoved = matching.length > 0 ? await collection.deleteSources(selector) : 0;
      if (chunksRemoved > 0) await collection.optimize();
      const ids = matching.map((s) => s.source).sort();
      return {
        deletedSources: ids.slice(0, LISTED),
        sourceCount: ids.length,
        chunksRemoved,
        ...(ids.length === 0
          ? { note: "Nothing matched, nothing was deleted; list_sources shows the stored source ids." }
          : {}),
      };
    }, context.config.lockWaitMs);
  },
  render: (output) =>
    output.sourceCount === 0
      ? (output.note ?? "Nothing deleted.")
      : `Deleted ${output.sourceCount} source(s), ${output.chunksRemoved} chunks: ${output.deletedSources.join(", ")}${output.sourceCount > output.deletedSources.length ? " …" : ""}`,
});
