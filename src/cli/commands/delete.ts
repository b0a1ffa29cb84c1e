import type { Command } from "commander";
import { UsageError } from "../../errors.js";
import { printJson, withContext } from "../shared.js";

export function registerDeleteCommand(program: Command): void {
  program
    .command("delete")
    .description("delete a source, or every source under a prefix (e.g. docs/old/)")
    .argument("<source|prefix>", "an exact source id (see `mrag sources`) or a prefix")
    .option("--json", "print as JSON")
    .action(async (target: string, flags: { json?: boolean }, command: Command) => {
      if (target.trim() === "") throw new UsageError("delete needs a source or a prefix; see `mrag sources`");
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
      if (result.sources.length === 0) {
        throw new UsageError(`no source is "${target}" or starts with it; see \`mrag sources\``);
      }
      if (flags.json) printJson({ removed: result.sources, chunksRemoved: result.chunks });
      else process.stdout.write(`removed ${result.sources.length} source(s), ${result.chunks} chunks\n`);
    });
}
