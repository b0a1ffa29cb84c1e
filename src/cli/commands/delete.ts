import { createInterface } from "node:readline/promises";
import type { Command } from "commander";
import { ModelMismatchError, UsageError } from "../../errors.js";
import type { Collection } from "../../store/types.js";
import type { MragContext } from "../../tools/context.js";
import { printJson, withContext } from "../shared.js";

interface DeleteFlags {
  json?: boolean;
  all?: boolean;
  stringPrefix?: boolean;
  dryRun?: boolean;
  yes?: boolean;
}

/** Ask on the terminal; false for anything but y/yes. */
async function confirmOnTerminal(question: string): Promise<boolean> {
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  try {
    return /^y(es)?$/i.test((await rl.question(`${question} [y/N] `)).trim());
  } finally {
    rl.close();
  }
}

/**
 * The configured collection. With --all, one built by another embedding model is opened with the model it
 * records: emptying it needs no vectors, and it is the way to re-index after the builtin model was upgraded
 * (the earlier version cannot be switched back to). The next `mrag ingest` then adopts the empty collection.
 */
async function openForDelete(context: MragContext, all: boolean): Promise<Collection> {
  try {
    return await context.collection({ create: false });
  } catch (error) {
    if (!all || !(error instanceof ModelMismatchError)) throw error;
    const store = await context.store();
    const name = context.config.collection;
    const meta = (await store.listCollections()).find((c) => c.name === name);
    if (!meta) throw error;
    return store.openCollection(name, { modelId: meta.modelId, dimension: meta.dimension, create: false });
  }
}

export function registerDeleteCommand(program: Command): void {
  program
    .command("delete")
    .description("delete a source, or every source under a path prefix (whole segments: docs/old, not docs/old-keep)")
    .argument("[source|prefix]", "an exact source id (see `mrag sources`) or a folder prefix")
    .option("--all", "delete every source in the collection (e.g. to re-index with another embedder)")
    .option("--string-prefix", "match the prefix as a bare string (docs/ol takes docs/old-keep/ too)")
    .option("--dry-run", "list what would be deleted and delete nothing")
    .option("-y, --yes", "do not ask: needed for --all and large deletes when stdin is not a terminal")
    .option("--json", "print as JSON")
    .action(async (given: string | undefined, flags: DeleteFlags, command: Command) => {
      if (flags.all && given !== undefined) throw new UsageError("give either a source/prefix or --all, not both");
      if (flags.all && flags.stringPrefix) throw new UsageError("--string-prefix needs a prefix, not --all");
      const target = given ?? "";
      if (!flags.all && target.trim() === "") {
        throw new UsageError("delete needs a source or a prefix (see `mrag sources`), or --all");
      }
      const { LARGE_DELETE_SOURCES, deleteMatching, matchSources, stringPrefixHint } = await import(
        "../../tools/delete-source.js"
      );
      type Selector = Parameters<typeof matchSources>[1];
      const selector: Selector = flags.all
        ? { all: true }
        : { prefix: target, stringPrefix: flags.stringPrefix ?? false };
      const result = await withContext(command, {}, async (context) => {
        const collection = await openForDelete(context, flags.all === true);
        const planned = await matchSources(collection, selector);
        if (planned.length === 0) {
          if (flags.all) return { sources: [], chunks: 0 };
          const hint = flags.stringPrefix ? "" : await stringPrefixHint(collection, target, "--string-prefix");
          throw new UsageError(`no source is "${target}" or lies under "${target}/"${hint}; see \`mrag sources\``);
        }
        const plannedChunks = planned.reduce((n, s) => n + s.chunks, 0);
        if (flags.dryRun) return { sources: planned.map((s) => s.source), chunks: plannedChunks, dryRun: true };
        if ((flags.all || planned.length > LARGE_DELETE_SOURCES) && !flags.yes) {
          const what = `delete ${planned.length} source(s), ${plannedChunks} chunks${flags.all ? " (--all)" : ""}`;
          if (!process.stdin.isTTY) {
            throw new UsageError(`refusing to ${what} without confirmation: pass --yes (or --dry-run to see them)`);
          }
          if (!(await confirmOnTerminal(`${what[0]?.toUpperCase()}${what.slice(1)}?`))) {
            throw new UsageError("nothing deleted");
          }
        }
        const store = await context.store();
        return store.withWriteLock(async () => {
          // Listed again under the lock: what is removed is what is reported.
          const sources = await matchSources(collection, selector);
          const chunks = sources.length > 0 ? await deleteMatching(collection, selector) : 0;
          if (chunks > 0) await collection.optimize();
          return { sources: sources.map((s) => s.source), chunks };
        }, context.config.lockWaitMs);
      });
      const dryRun = "dryRun" in result;
      if (flags.json) {
        printJson(
          dryRun
            ? { wouldRemove: result.sources, chunks: result.chunks, dryRun: true }
            : { removed: result.sources, chunksRemoved: result.chunks },
        );
      } else if (dryRun) {
        process.stdout.write(
          `would remove ${result.sources.length} source(s), ${result.chunks} chunks (dry run):\n` +
            result.sources.map((s) => `  ${s}\n`).join(""),
        );
      } else process.stdout.write(`removed ${result.sources.length} source(s), ${result.chunks} chunks\n`);
    });
}
