import type { Command } from "commander";
import { createProgressBar } from "../progress.js";
import { collect, parseNumber, printJson, withContext } from "../shared.js";

interface IngestFlags {
  include?: string[];
  exclude?: string[];
  gitignore: boolean;
  tag?: string[];
  prune?: boolean;
  force?: boolean;
  json?: boolean;
  maxFileBytes?: number;
  chunkChars?: number;
  allowPrivateUrls?: boolean;
}

export function registerIngestCommand(program: Command): void {
  program
    .command("ingest")
    .description("add or update files, folders and http(s) URLs in the store (unchanged files are skipped)")
    .argument("<inputs...>", "files, folders or http(s) URLs")
    .option("--include <glob>", "only files matching this glob (repeatable)", collect)
    .option("--exclude <glob>", "skip files matching this glob (repeatable)", collect)
    .option("--no-gitignore", "do not honour .gitignore files")
    .option("--tag <tag>", "tag every chunk of these sources (repeatable)", collect)
    .option("--prune", "remove sources under the given folders that no longer exist")
    .option("--force", "re-embed unchanged sources too (e.g. after changing --chunk-chars)")
    .option("--max-file-bytes <n>", "skip files larger than this", parseNumber)
    .option("--chunk-chars <n>", "maximum characters per chunk", parseNumber)
    .option("--allow-private-urls", "let URLs (and redirects) reach loopback, private and link-local addresses")
    .option("--json", "print the summary as JSON")
    .action(async (inputs: string[], flags: IngestFlags, command: Command) => {
      const summary = await withContext(
        command,
        {
          "ingest.include": flags.include,
          "ingest.exclude": flags.exclude,
          "ingest.gitignore": flags.gitignore === false ? false : undefined,
          "ingest.maxFileBytes": flags.maxFileBytes,
          "ingest.chunkChars": flags.chunkChars,
          "ingest.allowPrivateUrls": flags.allowPrivateUrls,
        },
        async (context) => {
          const { runIngest } = await import("../../tools/ingest.js");
          const bar = flags.json ? undefined : createProgressBar();
          try {
            return await runIngest(context, {
              inputs,
              tags: flags.tag ?? [],
              prune: flags.prune ?? false,
              force: flags.force ?? false,
              onProgress: (event) => {
                if (event.phase === "ingest") bar?.update(event.done, event.total, event.source);
                else if (event.phase === "index") bar?.update(event.total, event.total, "indexing");
              },
            });
          } finally {
            bar?.stop();
          }
        },
      );
      const { EXIT_PARTIAL, formatSummary, judgeIngest } = await import("../../tools/ingest.js");
      if (flags.json) printJson(summary);
      else process.stdout.write(`${formatSummary(summary)}\n`);
      // Exit code: 0 all of it, 3 part of it, 1 none of it (or nothing found) was ingested.
      const verdict = judgeIngest(summary, inputs);
      if (verdict.status !== "ok") {
        process.stderr.write(`mrag: ${verdict.message}\n`);
        process.exitCode = verdict.status === "partial" ? EXIT_PARTIAL : 1;
      }
    });
}
