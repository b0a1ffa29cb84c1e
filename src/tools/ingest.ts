import { DEFAULT_MIN_CHARS } from "../ingest/chunk/index.js";
import { type IngestProgress, type IngestSummary, ingestSources } from "../ingest/sync.js";
import type { MragContext } from "./context.js";

export interface IngestOperation {
  inputs: string[];
  tags?: string[];
  prune?: boolean;
  force?: boolean;
  signal?: AbortSignal;
  onProgress?: (event: IngestProgress) => void;
}

/**
 * Ingest into the configured collection under the store's write lock, with chunking and file limits from
 * the config. The CLI and (later) the MCP `ingest` tool both call this.
 */
export async function runIngest(context: MragContext, operation: IngestOperation): Promise<IngestSummary> {
  const { config } = context;
  const store = await context.store();
  return store.withWriteLock(async () => {
    const collection = await context.collection({ create: true });
    return ingestSources(collection, await context.embedder(), {
      inputs: operation.inputs,
      cwd: context.cwd,
      include: config.ingest.include,
      exclude: config.ingest.exclude,
      gitignore: config.ingest.gitignore,
      maxFileBytes: config.ingest.maxFileBytes,
      urlTimeoutMs: config.ingest.urlTimeoutMs,
      chunking: {
        maxChars: config.ingest.chunkChars,
        overlapChars: Math.min(config.ingest.overlapChars, Math.floor(config.ingest.chunkChars / 2)),
        minChars: Math.min(DEFAULT_MIN_CHARS, Math.floor(config.ingest.chunkChars / 4)),
      },
      tags: operation.tags ?? [],
      prune: operation.prune ?? false,
      force: operation.force ?? false,
      ...(operation.signal ? { signal: operation.signal } : {}),
      ...(operation.onProgress ? { onProgress: operation.onProgress } : {}),
    });
  }, config.lockWaitMs);
}
