import type { Command } from "commander";
import { z } from "zod";
import { StoreError, UsageError } from "../../errors.js";
import { createLogger, type Logger } from "../../log.js";
import {
  DEFAULT_MIGRATE_BATCH_CHUNKS,
  MAX_MIGRATE_BATCH_CHUNKS,
  type MigrateProgress,
  type MigrateSummary,
  migrateStore,
} from "../../store/migrate.js";
import type { Store } from "../../store/types.js";
import { createProgressBar, type ProgressBar } from "../progress.js";
import { loadCliConfig, parseNumber, printJson } from "../shared.js";

const FlagsSchema = z.object({
  from: z.string().trim().min(1, "--from needs a store folder or a Milvus URI"),
  to: z.string().trim().min(1, "--to needs a store folder or a Milvus URI"),
  batchChunks: z
    .number()
    .int(`--batch-chunks must be a whole number of chunks`)
    .min(1, `--batch-chunks must be from 1 to ${MAX_MIGRATE_BATCH_CHUNKS}`)
    .max(MAX_MIGRATE_BATCH_CHUNKS, `--batch-chunks must be from 1 to ${MAX_MIGRATE_BATCH_CHUNKS}`)
    .default(DEFAULT_MIGRATE_BATCH_CHUNKS),
  json: z.boolean().default(false),
});

/** Lines on logs (not a terminal) come at most this often during a copy, plus one per collection phase. */
const LOG_EVERY_MS = 2000;

function rate(event: MigrateProgress): string {
  const seconds = event.elapsedMs / 1000;
  return seconds > 0 ? `${Math.round(event.chunksCopied / seconds)} chunks/s` : "";
}

/**
 * Progress on stderr: a redrawn bar on a terminal, throttled plain lines otherwise (CI logs, redirected
 * output). stdout is left to the summary.
 */
function progressReporter(logger: Logger, bar: ProgressBar, tty: boolean): (event: MigrateProgress) => void {
  let lastLine = 0;
  const line = (message: string) => {
    bar.stop();
    logger.info(message);
  };
  return (event) => {
    const where = `collection ${event.collection} (${event.collectionIndex}/${event.collectionCount})`;
    switch (event.phase) {
      case "plan":
        line(
          `migrating ${where}: ${event.sources} sources, ${event.sourcesToCopy} to copy ` +
            `(${event.chunksToCopy} chunks), ${event.sourcesSkipped} already there`,
        );
        lastLine = Date.now();
        break;
      case "copy": {
        const sources = `${event.sourcesCopied}/${event.sourcesToCopy} sources`;
        const speed = rate(event) ? `, ${rate(event)}` : "";
        // The bar counts chunks itself; the label adds what it cannot show.
        if (tty) bar.update(event.chunksCopied, event.chunksToCopy, `chunks, ${event.collection}: ${sources}${speed}`);
        else if (Date.now() - lastLine >= LOG_EVERY_MS) {
          logger.info(`${where}: ${sources}, ${event.chunksCopied}/${event.chunksToCopy} chunks${speed}`);
          lastLine = Date.now();
        }
        break;
      }
      case "index":
        line(`${where}: ${event.chunksCopied} chunks copied; building indexes`);
        break;
      case "verify":
        if (tty) bar.update(event.chunksToCopy, event.chunksToCopy, `${event.collection}: verifying`);
        break;
      case "done":
        line(
          `${where}: done: ${event.sourcesCopied} copied, ${event.sourcesSkipped} skipped, ` +
            `${event.chunksCopied} chunks in ${(event.elapsedMs / 1000).toFixed(1)} s`,
        );
        break;
    }
  };
}

function formatMigration(s: MigrateSummary): string {
  const lines = [`${s.interrupted ? "interrupted migrating" : "migrated"} ${s.from} -> ${s.to}`];
  for (const c of s.collections) {
    const state = c.pending > 0 ? `${c.pending} pending` : c.verified ? "verified" : "NOT verified";
    lines.push(
      `  ${c.name} (${c.modelId}, ${c.dimension}-d): ${c.sources} sources: ${c.copied} copied` +
        `${c.replaced > 0 ? ` (${c.replaced} replaced)` : ""}, ${c.skipped} skipped, ${c.chunks} chunks copied; ${state}`,
    );
    if (c.onlyInDestination.length > 0) {
      const shown = c.onlyInDestination.slice(0, 5).join(", ");
      const more = c.onlyInDestination.length > 5 ? `, +${c.onlyInDestination.length - 5} more` : "";
      lines.push(
        `    ${c.onlyInDestination.length} source(s) only in the destination, left as they are: ${shown}${more}`,
      );
    }
  }
  lines.push(
    `copied ${s.copied}, skipped ${s.skipped}, chunks ${s.chunks}, verified ${s.verified ? "yes" : "no"}` +
      ` (${(s.durationMs / 1000).toFixed(1)} s)`,
  );
  return lines.join("\n");
}

function mismatchError(s: MigrateSummary): StoreError {
  const all = s.collections.flatMap((c) => c.mismatches.map((m) => ({ collection: c.name, ...m })));
  const shown = all
    .slice(0, 5)
    .map(
      (m) =>
        `${m.collection}/${m.source}: expected ${m.expected.chunks} chunks, ` +
        (m.found
          ? `found ${m.found.chunks}${m.found.sourceHash !== m.expected.sourceHash ? " of another version" : ""}`
          : "missing"),
    )
    .join("; ");
  return new StoreError(
    `verification failed: ${all.length} source(s) in ${s.to} differ from ${s.from} (${shown}` +
      `${all.length > 5 ? `; +${all.length - 5} more` : ""}). The source store probably changed during the copy; ` +
      "run the same `mrag migrate` again to copy what differs",
  );
}

export function registerMigrateCommand(program: Command): void {
  program
    .command("migrate")
    .description("copy collections with their vectors from one store to another (no re-embedding); resumable, verified")
    .requiredOption("--from <path|uri>", "the store to copy from: a store folder or a Milvus URI")
    .requiredOption("--to <path|uri>", "the store to copy into: a store folder (created if missing) or a Milvus URI")
    .option(
      "--batch-chunks <n>",
      `group small sources into writes of up to this many chunks (default ${DEFAULT_MIGRATE_BATCH_CHUNKS})`,
      parseNumber,
    )
    .option("--json", "print the summary as JSON")
    .addHelpText(
      "after",
      "\nCopies every collection, or only the one named by the global --collection <name>.\n" +
        "Sources already identical in the destination are skipped, so running it again\n" +
        "after an interruption (Ctrl-C stops after the current batch) copies only what\n" +
        "is missing. Progress goes to stderr; exit 1 if the copy does not verify.",
    )
    .action(async (raw: Record<string, unknown>, command: Command) => {
      const parsed = FlagsSchema.safeParse(raw);
      if (!parsed.success) throw new UsageError(parsed.error.issues.map((i) => i.message).join("; "));
      const flags = parsed.data;
      const globals = command.optsWithGlobals<{ store?: string; collection?: string }>();
      if (globals.store !== undefined) {
        throw new UsageError("migrate reads --from and writes --to; leave out --store");
      }
      // Only an explicit --collection narrows the copy; MRAG_COLLECTION and the config file name the
      // collection other commands use, not what a whole-store migration should copy.
      const { config } = loadCliConfig(command);
      const logger = createLogger(config.logLevel);
      const { openStore } = await import("../../store/index.js");

      const cwd = process.cwd();
      const opened: Store[] = [];
      const controller = new AbortController();
      const tty = process.stderr.isTTY === true;
      const bar = createProgressBar();
      const onSigint = () => {
        if (controller.signal.aborted) {
          // A second Ctrl-C: leave now. Every written batch is already committed.
          process.stderr.write("\nmrag: stopped\n");
          process.exit(130);
        }
        bar.stop();
        logger.warn("stopping after the current batch (Ctrl-C again to quit at once)");
        controller.abort();
      };
      process.on("SIGINT", onSigint);
      let summary: MigrateSummary;
      try {
        const storeOptions = { milvus: config.milvus, logger };
        const from = await openStore(flags.from, cwd, storeOptions);
        opened.push(from);
        const to = await openStore(flags.to, cwd, storeOptions);
        opened.push(to);
        summary = await migrateStore(from, to, {
          ...(globals.collection ? { collections: [globals.collection] } : {}),
          batchChunks: flags.batchChunks,
          lockWaitMs: config.lockWaitMs,
          signal: controller.signal,
          onProgress: progressReporter(logger, bar, tty),
        });
      } finally {
        bar.stop();
        process.off("SIGINT", onSigint);
        await Promise.allSettled(opened.map((s) => s.close()));
      }

      if (flags.json) printJson(summary);
      else process.stdout.write(`${formatMigration(summary)}\n`);
      if (summary.interrupted) {
        logger.warn(
          `interrupted: ${summary.pending} source(s) not copied yet; run the same command again to resume ` +
            "(what was copied is kept and skipped)",
        );
        process.exitCode = 130;
        return;
      }
      if (!summary.verified) throw mismatchError(summary);
    });
}
