import type { Command } from "commander";
import { printJson, withContext } from "../shared.js";

export function registerSourcesCommand(program: Command): void {
  program
    .command("sources")
    .description("list ingested sources with their chunk counts")
    .option("--prefix <prefix>", "only sources starting with this")
    .option("--json", "print as JSON")
    .action(async (flags: { prefix?: string; json?: boolean }, command: Command) => {
      const sources = await withContext(command, {}, async (context) => {
        const collection = await context.collection({ create: false });
        return collection.listSources(flags.prefix ? { prefix: flags.prefix } : {});
      });
      if (flags.json) {
        printJson({ sources: sources.map((s) => ({ ...s, ingestedAt: new Date(s.ingestedAt).toISOString() })) });
        return;
      }
      if (sources.length === 0) {
        process.stdout.write("no sources\n");
        return;
      }
      for (const s of sources) {
        const tags = s.tags.length > 0 ? `  [${s.tags.join(", ")}]` : "";
        process.stdout.write(`${String(s.chunks).padStart(6)}  ${s.source}  (${s.fileType})${tags}\n`);
      }
    });
}
