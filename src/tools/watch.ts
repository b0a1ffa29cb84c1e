import { realpath, stat } from "node:fs/promises";
import path from "node:path";
import { UsageError } from "../errors.js";
import type { IngestSummary } from "../ingest/sync.js";
import { type FolderWatcher, watchFolders } from "../ingest/watcher.js";
import type { MragContext } from "./context.js";
import { formatSummary, runIngest } from "./ingest.js";
import { checkAllowedPath, resolveAllowedRoots } from "./roots.js";
import { realpathOfExisting } from "./source-root.js";

export interface WatchOptions {
  /** Folders to keep in sync, as the user typed them (relative to the context's working directory). */
  folders: readonly string[];
  /** Tags for every chunk, as `ingest --tag`. */
  tags?: string[];
  /** Check the folders against `server.allowRoots`, as the MCP `ingest` tool does (`serve --watch`). */
  checkAllowedRoots?: boolean;
  /** Cancels the sync in progress (shutdown): what it wrote is complete, the rest waits for the next start. */
  signal?: AbortSignal;
  /** After each sync (the first one included); the CLI logs it. */
  onSync?: (summary: IngestSummary, changed: number | "all") => void;
}

export interface WatchHandle {
  /** The watched folders, as real paths. */
  folders: string[];
  /** Resolves when no sync is pending or running. */
  idle(): Promise<void>;
  /** Stop watching; waits for the sync in progress, which completes (a source is never left half written). */
  close(): Promise<void>;
}

/** Above this many changed paths a batch reads every file (comparing against thousands of prefixes costs more). */
const MAX_TRACKED_PATHS = 2000;

/** The folders as real paths, checked (exist, are folders, inside the allowed roots when asked): fail before serving. */
export async function resolveWatchFolders(
  context: MragContext,
  options: Pick<WatchOptions, "folders" | "checkAllowedRoots">,
): Promise<string[]> {
  if (options.folders.length === 0) throw new UsageError("name at least one folder to watch");
  const roots = options.checkAllowedRoots
    ? await resolveAllowedRoots(context.config.server.allowRoots, context.cwd)
    : undefined;
  const folders: string[] = [];
  for (const [i, folder] of options.folders.entries()) {
    const abs = roots
      ? await checkAllowedPath(folder, `--watch[${i}]`, roots, context.cwd)
      : path.resolve(context.cwd, folder);
    const info = await stat(abs).catch(() => undefined);
    if (!info) throw new UsageError(`no such folder to watch: ${folder}`);
    if (!info.isDirectory()) throw new UsageError(`${folder} is a file; watch the folder that holds it`);
    folders.push(await realpath(abs));
  }
  return [...new Set(folders)];
}

/**
 * Keep folders in sync with the store: one full sync (with prune) first, then a sync per debounced batch of
 * file events, through the same `runIngest` as `mrag ingest --prune` (same walk, ignore rules, types and limits;
 * each source replaced in one commit under the store's write lock). A batch reads only the files its events
 * name; deletions and renames are found by the prune that every sync does.
 */
export async function startWatch(context: MragContext, options: WatchOptions): Promise<WatchHandle> {
  const folders = await resolveWatchFolders(context, options);
  const store = await context.store();
  const skipFolders =
    store.kind === "embedded" ? [await realpathOfExisting(path.resolve(context.cwd, store.location))] : [];
  const tags = options.tags ?? [];

  const sync = async (changed: string[] | undefined) => {
    // A watched folder that is gone (unmounted, renamed away) is left alone: its sources stay until it is back.
    const present: string[] = [];
    for (const folder of folders) {
      if ((await stat(folder).catch(() => undefined))?.isDirectory()) present.push(folder);
      else context.logger.warn(`watch: ${folder} is gone; its sources stay in the store until it comes back`);
    }
    if (present.length === 0) return;
    const summary = await runIngest(context, {
      inputs: present,
      tags,
      prune: true,
      ...(options.signal ? { signal: options.signal } : {}),
      ...(changed && changed.length <= MAX_TRACKED_PATHS ? { changedPaths: changed } : {}),
    });
    options.onSync?.(summary, changed ? changed.length : "all");
  };

  // Watch before the first sync: a file written while it runs (after its walk) would otherwise be missed
  // until its next change. Batches wait for the first sync, so syncs never overlap.
  let firstSync: Promise<void> | undefined;
  const watcher: FolderWatcher = await watchFolders(folders, {
    debounceMs: context.config.ingest.watchDebounceMs,
    skipFolders,
    onBatch: async (changed) => {
      await firstSync?.catch(() => undefined);
      await sync(changed);
    },
    onError: (message) => context.logger.warn(`watch: sync failed, trying again shortly: ${message}`),
  });
  firstSync = sync(undefined);
  try {
    await firstSync;
  } catch (error) {
    await watcher.close();
    throw error;
  }
  return { folders, idle: () => watcher.idle(), close: () => watcher.close() };
}

/** The line a watcher logs after a sync that changed something ("" when nothing changed). */
export function describeSync(summary: IngestSummary): string {
  const changed = summary.added.length + summary.updated.length + summary.removed.length + summary.skipped.length;
  return changed === 0 ? "" : `watch: ${formatSummary(summary)}`;
}
