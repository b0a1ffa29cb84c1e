import { z } from "zod";
import { isoTime } from "./format.js";
import { defineTool } from "./tool.js";

export const StatusInputSchema = z.object({}).strict();

export const StatusOutputSchema = z.object({
  store: z.object({ kind: z.enum(["embedded", "milvus"]), location: z.string() }),
  collection: z.string(),
  exists: z.boolean().describe("False until something has been ingested."),
  embedder: z.object({ modelId: z.string(), dimension: z.number().int() }),
  chunks: z.number().int(),
  sources: z.number().int(),
  lastIngestAt: z.string().nullable(),
  indexes: z.record(z.string(), z.union([z.string(), z.boolean()])),
  readOnly: z.boolean(),
});
export type StatusOutput = z.infer<typeof StatusOutputSchema>;

export const statusTool = defineTool({
  name: "status",
  title: "Knowledge base status",
  description:
    "Where the knowledge base lives (store kind and location, collection), which embedding model it uses, how many " +
    "sources and chunks it holds and when it was last updated. Call it when search finds nothing, to check that " +
    "anything is ingested at all.",
  input: StatusInputSchema,
  output: StatusOutputSchema,
  annotations: { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false },
  writes: false,
  async handler(context) {
    const store = await context.store();
    const base = { store: { kind: store.kind, location: store.location }, collection: context.config.collection };
    const readOnly = context.config.server.readOnly;
    const known = (await store.listCollections()).find((c) => c.name === context.config.collection);
    if (!known) {
      return {
        ...base,
        exists: false,
        embedder: { modelId: context.config.embedder, dimension: 0 },
        chunks: 0,
        sources: 0,
        lastIngestAt: null,
        indexes: {},
        readOnly,
      };
    }
    // Opened with the stored model, so that status works even when the configured embedder does not match.
    const collection = await store.openCollection(context.config.collection, {
      modelId: known.modelId,
      dimension: known.dimension,
      create: false,
    });
    const stats = await collection.stats();
    return {
      ...base,
      exists: true,
      embedder: { modelId: stats.modelId, dimension: stats.dimension },
      chunks: stats.chunks,
      sources: stats.sources,
      lastIngestAt: isoTime(stats.lastIngestAt),
      indexes: stats.indexes,
      readOnly,
    };
  },
  render: (o) =>
    `${o.store.kind} store at ${o.store.location}, collection "${o.collection}"` +
    (o.exists
      ? `: ${o.sources} sources, ${o.chunks} chunks, model ${o.embedder.modelId} (${o.embedder.dimension}-d), ` +
        `last ingest ${o.lastIngestAt ?? "never"}`
      : ": empty (nothing ingested yet)") +
    (o.readOnly ? "; read-only" : ""),
});
