import type { Command } from "commander";
import { UsageError } from "../../errors.js";
import { printJson, withContext } from "../shared.js";

export function registerDeleteCommand(program: Command): void {
  program
    .command("delete")
    .description("delete a source, or every source under a prefix (e.g. docs/old/)")
    .argument("[source|prefix]", "an exact source id (see `mrag sources`) or a prefix")
    .option("--all", "delete every source in the collection (e.g. to re-index with another embedder)")
    .option("--json", "print as JSON")
    .action(async (given: string | undefined, flags: { json?: boolean; all?: boolean }, command: Command) => {
      if (flags.all && given !== undefined) throw new UsageError("give either a source/prefix or --all, not both");
      const target = flags.all ? "" : (given ?? "");
      if (!flags.all && target.trim() === "") {
        throw new UsageError("delete needs a source or a prefix (see `mrag sources`), or --all");
      }
      const result = await withContext(command, {}, async (context) => {
        const store = await context.store();
        return store.withWriteLock(async () => {
          const collection = await context.collection({ create: false });
          const matching = await collection.listSources({ prefix: target });
          const exact = matching.find((s) => s.source === target);
          const selector = exact ? { source: target } : { prefix: target };
          const sources = exact ? [exact] : matching;
          const chunks = sources.length > 0 ? await collection.deleteSources(selector) : 0;
          if (chunks > 0) await collection.optimize();
          return { sources: sources.map((s) => s.source), chunks };
        }, context.config.lockWaitMs);
      });
      if (result.sources.length === 0 && !flags.all) {
        throw new UsageError(`no source is "${target}" or starts with it; see \`mrag sources\``);
      }
      if (flags.json) printJson({ removed: result.sources, chunksRemoved: result.chunks });
      else process.stdout.write(`removed ${result.sources.length} source(s), ${result.chunks} chunks\n`);
    });
}
