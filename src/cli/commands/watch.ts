import type { Command } from "commander";
import type { MragContext } from "../../tools/context.js";
import type { WatchHandle } from "../../tools/watch.js";
import { collect, nextSignal, parseNumber, withContext } from "../shared.js";

interface WatchFlags {
  include?: string[];
  exclude?: string[];
  gitignore: boolean;
  tag?: string[];
  debounce?: number;
}

/** Start watching `folders` for a long-running command; every line goes to stderr (stdout may be MCP's). */
export async function startCliWatch(
  context: MragContext,
  folders: readonly string[],
  options: { tags?: string[]; checkAllowedRoots?: boolean; signal?: AbortSignal } = {},
): Promise<WatchHandle> {
  const { describeSync, startWatch } = await import("../../tools/watch.js");
  const handle = await startWatch(context, {
    folders,
    ...options,
    onSync: (summary, changed) => {
      const line = describeSync(summary);
      if (line) context.logger.info(line);
      else if (changed === "all") context.logger.info("watch: the store is up to date");
    },
  });
  context.logger.info(
    `watching ${handle.folders.join(", ")} (changes synced after ${context.config.ingest.watchDebounceMs} ms quiet; Ctrl-C stops)`,
  );
  return handle;
}

export function registerWatchCommand(program: Command): void {
  program
    .command("watch")
    .description(
      "keep folders in sync: ingest once, then re-index changed files and remove deleted ones as they happen",
    )
    .argument("<folders...>", "folders to watch")
    .option("--include <glob>", "only files matching this glob (repeatable)", collect)
    .option("--exclude <glob>", "skip files matching this glob (repeatable)", collect)
    .option("--no-gitignore", "do not honour .gitignore files")
    .option("--tag <tag>", "tag every chunk of these sources (repeatable)", collect)
    .option(
      "--debounce <ms>",
      "quiet time after the last change before a sync (default 500) [env MRAG_WATCH_DEBOUNCE_MS]",
      parseNumber,
    )
    .action(async (folders: string[], flags: WatchFlags, command: Command) => {
      await withContext(
        command,
        {
          "ingest.include": flags.include,
          "ingest.exclude": flags.exclude,
          "ingest.gitignore": flags.gitignore === false ? false : undefined,
          "ingest.watchDebounceMs": flags.debounce,
        },
        async (context) => {
          const shutdown = new AbortController();
          const stopped = nextSignal().then((signal) => {
            context.logger.info(`${signal}: stopping the watch (sources written so far are complete)`);
            shutdown.abort();
          });
          let handle: WatchHandle;
          try {
            handle = await startCliWatch(context, folders, { tags: flags.tag ?? [], signal: shutdown.signal });
          } catch (error) {
            if (shutdown.signal.aborted) return; // stopped during the first sync
            throw error;
          }
          await stopped;
          await handle.close();
        },
      );
    });
}
