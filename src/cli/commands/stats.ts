import type { Command } from "commander";
import { printJson, withContext } from "../shared.js";

export function registerStatsCommand(program: Command): void {
  program
    .command("stats")
    .description("show the store, the collection, its embedding model and counts")
    .option("--json", "print as JSON")
    .action(async (flags: { json?: boolean }, command: Command) => {
      const stats = await withContext(command, {}, async (context) => {
        const store = await context.store();
        const collection = await context.collection({ create: false });
        const s = await collection.stats();
        return {
          store: { kind: store.kind, location: store.location },
          ...s,
          lastIngestAt: s.lastIngestAt === null ? null : new Date(s.lastIngestAt).toISOString(),
        };
      });
      if (flags.json) {
        printJson(stats);
        return;
      }
      const indexes = Object.entries(stats.indexes)
        .map(([k, v]) => `${k}=${v}`)
        .join(", ");
      process.stdout.write(
        `${[
          `store:       ${stats.store.kind} ${stats.store.location}`,
          `collection:  ${stats.name}`,
          `model:       ${stats.modelId} (${stats.dimension} dimensions)`,
          `sources:     ${stats.sources}`,
          `chunks:      ${stats.chunks}`,
          `last ingest: ${stats.lastIngestAt ?? "never"}`,
          `indexes:     ${indexes || "none"}`,
        ].join("\n")}\n`,
      );
    });
}
