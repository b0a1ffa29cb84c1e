import { Command, CommanderError, Option } from "commander";
import { describeError, isMragError } from "../errors.js";
import { redactText } from "../redact.js";
import { VERSION } from "../version.js";
import { registerAskCommand } from "./commands/ask.js";
import { registerChatCommand } from "./commands/chat.js";
import { registerConfigCommand } from "./commands/config.js";
import { registerDeleteCommand } from "./commands/delete.js";
import { registerDoctorCommand } from "./commands/doctor.js";
import { registerEmbedCommand } from "./commands/embed.js";
import { registerEvalCommand } from "./commands/eval.js";
import { registerIngestCommand } from "./commands/ingest.js";
import { registerInstallClientCommand } from "./commands/install-client.js";
import { registerMcpConfigCommand } from "./commands/mcp-config.js";
import { registerMigrateCommand } from "./commands/migrate.js";
import { registerModelCommand } from "./commands/model.js";
import { registerSearchCommand } from "./commands/search.js";
import { registerServeCommand } from "./commands/serve.js";
import { registerSourcesCommand } from "./commands/sources.js";
import { registerStatsCommand } from "./commands/stats.js";
import { registerWatchCommand } from "./commands/watch.js";

export function buildProgram(): Command {
  const program = new Command("mrag")
    .description(
      "Agentic RAG on Milvus: ingest documents, search them (hybrid dense + BM25), and serve them to agents.\n" +
        "Runs offline on an embedded store by default (./.mrag/data).",
    )
    .version(VERSION, "-V, --version")
    .addOption(new Option("--store <path|uri>", "store folder (embedded) or Milvus URI [env MRAG_STORE]"))
    .addOption(new Option("--collection <name>", "collection name [env MRAG_COLLECTION]"))
    .addOption(
      new Option("--embedder <spec>", "builtin | hf:<model id or folder> | openai:<model> [env MRAG_EMBEDDER]"),
    )
    .addOption(new Option("--config <file>", "config file (default: ./mrag.config.json or ./.mrag/config.json)"))
    .addOption(
      new Option("--log-level <level>", "stderr log level [env MRAG_LOG_LEVEL]").choices([
        "debug",
        "info",
        "warn",
        "error",
        "silent",
      ]),
    )
    .showHelpAfterError("(run `mrag --help` or `mrag <command> --help` for usage)")
    .exitOverride()
    .configureOutput({ writeErr: (s) => process.stderr.write(s) });

  registerIngestCommand(program);
  registerWatchCommand(program);
  registerSearchCommand(program);
  registerSourcesCommand(program);
  registerDeleteCommand(program);
  registerStatsCommand(program);
  registerMigrateCommand(program);
  registerEmbedCommand(program);
  registerServeCommand(program);
  registerAskCommand(program);
  registerEvalCommand(program);
  registerChatCommand(program);
  registerModelCommand(program);
  registerConfigCommand(program);
  registerMcpConfigCommand(program);
  registerInstallClientCommand(program);
  registerDoctorCommand(program);
  for (const command of program.commands) command.exitOverride();
  return program;
}

/** Run the CLI; resolves to the process exit code (0 ok, 1 runtime error, 2 usage error). */
export async function runCli(argv: readonly string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync([...argv], { from: "user" });
    return typeof process.exitCode === "number" ? process.exitCode : 0;
  } catch (error) {
    if (error instanceof CommanderError) {
      // Commander already printed its message (help, version or a usage error).
      if (error.code === "commander.helpDisplayed" || error.code === "commander.version") return 0;
      if (error.code === "commander.help") return 0;
      return 2;
    }
    process.stderr.write(`mrag: ${redactText(describeError(error))}\n`);
    if (!isMragError(error) && process.env.MRAG_DEBUG)
      process.stderr.write(`${redactText(String((error as Error).stack))}\n`);
    return isMragError(error) ? error.exitCode : 1;
  }
}

const isEntryPoint = process.argv[1] !== undefined && /[\\/](mrag(\.js)?|main\.js)$/.test(process.argv[1]);
if (isEntryPoint) {
  const code = await runCli(process.argv.slice(2));
  // Native modules (onnxruntime, LanceDB) can keep handles open; the command is done, so leave now.
  process.stdout.write("", () => process.exit(code));
}
