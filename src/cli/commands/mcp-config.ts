import path from "node:path";
import { type Command, Option } from "commander";
import { packageRoot } from "../../paths.js";
import { isServerUri } from "../../store/index.js";
import { resolveSourceRoot } from "../../tools/source-root.js";
import { loadCliConfig } from "../shared.js";

export const MCP_CLIENTS = ["claude-code", "claude-desktop", "cursor"] as const;
export type McpClient = (typeof MCP_CLIENTS)[number];

export interface ServerLaunch {
  name: string;
  command: string;
  args: string[];
  env: Record<string, string>;
}

/**
 * How a client should start this mrag for the current folder's store: this Node and this package's bin by
 * absolute path (clients start servers from another folder, often `/`), the store by absolute path, and the
 * source root as the folder ingest may read.
 */
export async function serverLaunch(command: Command, name: string, readOnly: boolean): Promise<ServerLaunch> {
  const { config } = loadCliConfig(command);
  const cwd = process.cwd();
  const store = isServerUri(config.store) ? config.store : path.resolve(cwd, config.store);
  const env: Record<string, string> = { MRAG_STORE: store };
  if (config.collection !== "mrag") env.MRAG_COLLECTION = config.collection;
  if (config.embedder !== "builtin") env.MRAG_EMBEDDER = config.embedder;
  if (!readOnly) env.MRAG_ALLOW_ROOTS = await resolveSourceRoot(config, cwd);
  return {
    name,
    command: process.execPath,
    args: [path.join(packageRoot(), "bin", "mrag.js"), "serve", ...(readOnly ? ["--read-only"] : [])],
    env,
  };
}

const shellQuote = (s: string) => (/^[\w@%+=:,./-]+$/.test(s) ? s : `'${s.replaceAll("'", "'\\''")}'`);

/** The exact snippet for one client: a `claude mcp add` line, or the JSON for the client's config file. */
export function clientSnippet(client: McpClient, launch: ServerLaunch): string {
  if (client === "claude-code") {
    const env = Object.entries(launch.env).flatMap(([k, v]) => ["-e", `${k}=${v}`]);
    return `${["claude", "mcp", "add", launch.name, ...env, "--", launch.command, ...launch.args].map(shellQuote).join(" ")}\n`;
  }
  const entry = { command: launch.command, args: launch.args, env: launch.env };
  return `${JSON.stringify({ mcpServers: { [launch.name]: entry } }, null, 2)}\n`;
}

const WHERE: Record<McpClient, string> = {
  "claude-code": "run this in your project",
  "claude-desktop": "merge into claude_desktop_config.json (Settings > Developer > Edit Config)",
  cursor: "merge into .cursor/mcp.json in a project, or ~/.cursor/mcp.json",
};

export function registerMcpConfigCommand(program: Command): void {
  program
    .command("mcp-config")
    .description("print the exact MCP client set-up for this folder's store (absolute paths for this machine)")
    .addArgument(program.createArgument("<client>", "the client").choices(MCP_CLIENTS))
    .addOption(new Option("--name <name>", "server name in the client").default("mrag"))
    .option("--read-only", "offer only the reading tools")
    .action(async (client: McpClient, flags: { name: string; readOnly?: boolean }, command: Command) => {
      const launch = await serverLaunch(command, flags.name, flags.readOnly ?? false);
      process.stderr.write(`# ${WHERE[client]}\n`);
      process.stdout.write(clientSnippet(client, launch));
    });
}
