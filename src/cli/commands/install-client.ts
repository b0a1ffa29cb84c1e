import { spawnSync } from "node:child_process";
import { accessSync, constants } from "node:fs";
import path from "node:path";
import { type Command, Option } from "commander";
import { UsageError } from "../../errors.js";
import { clientConfigPath, mergeServer, readIfExists, serverEntry, writeWithBackup } from "../client-config.js";
import { userStderr } from "../native-stderr.js";
import { MCP_CLIENTS, type McpClient, type ServerLaunch, serverLaunch } from "./mcp-config.js";

interface InstallFlags {
  name: string;
  readOnly?: boolean;
  dryRun?: boolean;
  force?: boolean;
  global?: boolean;
  claudeCli: boolean;
}

/** An executable named `name` on PATH (with PATHEXT on Windows), or undefined. */
function onPath(name: string, env: NodeJS.ProcessEnv): string | undefined {
  const exts = process.platform === "win32" ? (env.PATHEXT ?? ".EXE;.CMD;.BAT").split(";") : [""];
  for (const dir of (env.PATH ?? "").split(path.delimiter)) {
    if (!dir) continue;
    for (const ext of exts) {
      const candidate = path.join(dir, name + ext);
      try {
        accessSync(candidate, constants.X_OK);
        return candidate;
      } catch {
        // not here
      }
    }
  }
  return undefined;
}

/** Claude Code through its own CLI: `claude mcp add` knows where its config lives (and its scopes). */
function installWithClaudeCli(claude: string, launch: ServerLaunch, flags: InstallFlags): void {
  const scope = ["-s", flags.global ? "user" : "local"];
  const env = Object.entries(launch.env).flatMap(([k, v]) => ["-e", `${k}=${v}`]);
  const add = ["mcp", "add", ...scope, launch.name, ...env, "--", launch.command, ...launch.args];
  if (flags.dryRun) {
    process.stdout.write(`${[claude, ...add].join(" ")}\n`);
    return;
  }
  const exists = spawnSync(claude, ["mcp", "get", launch.name], { encoding: "utf8" }).status === 0;
  if (exists && !flags.force) {
    throw new UsageError(
      `Claude Code already has an MCP server named "${launch.name}" (claude mcp get ${launch.name}); pass --force to replace it, or --name to add another`,
    );
  }
  if (exists)
    spawnSync(claude, ["mcp", "remove", ...scope, launch.name], { stdio: ["ignore", "ignore", userStderr()] });
  const result = spawnSync(claude, add, { stdio: ["ignore", "inherit", userStderr()] });
  if (result.status !== 0) {
    throw new UsageError(
      `\`claude mcp add\` failed (exit ${result.status ?? result.signal}); nothing else was changed`,
    );
  }
  process.stderr.write(`added "${launch.name}" to Claude Code (${scope[1]} scope); restart Claude Code to use it\n`);
}

async function installInFile(client: McpClient, launch: ServerLaunch, flags: InstallFlags): Promise<void> {
  const file = clientConfigPath(client, { global: flags.global ?? false, cwd: process.cwd(), env: process.env });
  const existing = await readIfExists(file);
  const merged = mergeServer(existing, launch.name, serverEntry(client, launch), {
    file,
    force: flags.force ?? false,
  });
  const others = merged.kept.length > 0 ? `; kept ${merged.kept.join(", ")}` : "";
  if (flags.dryRun) {
    process.stderr.write(`# would write ${file}${others} (dry run: nothing written)\n`);
    process.stdout.write(merged.text);
    return;
  }
  const backup = await writeWithBackup(file, merged.text, existing !== undefined);
  process.stderr.write(
    `${merged.replaced ? "replaced" : "added"} "${launch.name}" in ${file}${others}` +
      (backup ? `; the old file is ${backup}` : "") +
      `; restart ${client === "claude-desktop" ? "Claude Desktop" : client === "cursor" ? "Cursor" : "Claude Code"} to use it\n`,
  );
}

export function registerInstallClientCommand(program: Command): void {
  program
    .command("install-client")
    .description("add this folder's store to an MCP client's config (merged: other servers kept, old file backed up)")
    .addArgument(program.createArgument("<client>", "the client").choices(MCP_CLIENTS))
    .addOption(new Option("--name <name>", "server name in the client").default("mrag"))
    .option("--read-only", "offer only the reading tools")
    .option("--dry-run", "print what would be written, write nothing")
    .option("--force", "replace an existing server of that name")
    .option("--global", "Cursor: ~/.cursor/mcp.json (default: ./.cursor/mcp.json); Claude Code: user scope")
    .option("--no-claude-cli", "Claude Code: write ./.mcp.json even when the claude CLI is installed")
    .action(async (client: McpClient, flags: InstallFlags, command: Command) => {
      if (!/^[A-Za-z0-9][\w.-]{0,63}$/.test(flags.name)) {
        throw new UsageError(`--name ${JSON.stringify(flags.name)}: use letters, digits, ".", "_" and "-"`);
      }
      const launch = await serverLaunch(command, flags.name, flags.readOnly ?? false);
      const claude = client === "claude-code" && flags.claudeCli ? onPath("claude", process.env) : undefined;
      if (claude) return installWithClaudeCli(claude, launch, flags);
      if (client === "claude-code" && flags.global) {
        throw new UsageError(
          "--global for Claude Code needs the claude CLI (user scope is its own file); omit --global",
        );
      }
      await installInFile(client, launch, flags);
    });
}
