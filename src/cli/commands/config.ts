import type { Command } from "commander";
import { describeConfig } from "../../config/index.js";
import { loadCliConfig, printJson } from "../shared.js";

export function registerConfigCommand(program: Command): void {
  program
    .command("config")
    .description("print the effective configuration, where each value came from (secrets redacted)")
    .option("--json", "print as JSON")
    .action((flags: { json?: boolean }, command: Command) => {
      const loaded = loadCliConfig(command);
      const rows = describeConfig(loaded);
      if (flags.json) {
        printJson({ file: loaded.file ?? null, values: rows });
        return;
      }
      const width = Math.max(...rows.map((r) => r.key.length));
      const lines = rows.map((r) => `${r.key.padEnd(width)}  ${JSON.stringify(r.value) ?? "(unset)"}  [${r.origin}]`);
      process.stdout.write(
        `${loaded.file ? `config file: ${loaded.file}\n` : "config file: none\n"}${lines.join("\n")}\n`,
      );
    });
}
