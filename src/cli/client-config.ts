import { copyFile, mkdir, readFile, rename, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { UsageError } from "../errors.js";
import type { McpClient, ServerLaunch } from "./commands/mcp-config.js";

/** Where a client keeps its MCP servers: `claude_desktop_config.json`, `.cursor/mcp.json`, `.mcp.json`. */
export function clientConfigPath(
  client: McpClient,
  options: { global: boolean; cwd: string; env: NodeJS.ProcessEnv; platform?: NodeJS.Platform },
): string {
  const home = os.homedir();
  const platform = options.platform ?? process.platform;
  if (client === "claude-desktop") {
    if (platform === "darwin") return path.join(home, "Library", "Application Support", "Claude", CLAUDE_DESKTOP_FILE);
    if (platform === "win32") {
      const appData = options.env.APPDATA ?? path.join(home, "AppData", "Roaming");
      return path.join(appData, "Claude", CLAUDE_DESKTOP_FILE);
    }
    const configHome = options.env.XDG_CONFIG_HOME || path.join(home, ".config");
    return path.join(configHome, "Claude", CLAUDE_DESKTOP_FILE);
  }
  if (client === "cursor") return path.join(options.global ? home : options.cwd, ".cursor", "mcp.json");
  // Claude Code without its CLI: the project's shared `.mcp.json` (user scope lives in ~/.claude.json, the CLI's).
  return path.join(options.cwd, ".mcp.json");
}

const CLAUDE_DESKTOP_FILE = "claude_desktop_config.json";

type JsonObject = Record<string, unknown>;
const isObject = (v: unknown): v is JsonObject => typeof v === "object" && v !== null && !Array.isArray(v);

/** The server entry a client's JSON holds; Claude Code's `.mcp.json` also names the transport. */
export function serverEntry(client: McpClient, launch: ServerLaunch): JsonObject {
  const entry = { command: launch.command, args: launch.args, env: launch.env };
  return client === "claude-code" ? { type: "stdio", ...entry } : entry;
}

export interface MergeResult {
  /** The file's new text. */
  text: string;
  /** The name was already there (and `force` replaced it). */
  replaced: boolean;
  /** Names of the other servers kept as they were. */
  kept: string[];
}

/**
 * Add one server to a client's config text (undefined: no file yet), keeping every other key and server as it
 * was. Refuses an existing entry of that name unless `force`, and a file that is not a JSON object (never
 * overwritten: the user fixes it).
 */
export function mergeServer(
  existing: string | undefined,
  name: string,
  entry: JsonObject,
  options: { file: string; force: boolean },
): MergeResult {
  let config: JsonObject = {};
  if (existing !== undefined && existing.trim() !== "") {
    let parsed: unknown;
    try {
      parsed = JSON.parse(existing);
    } catch (error) {
      throw new UsageError(
        `${options.file} is not valid JSON (${(error as Error).message}); fix or move it, then run this again ` +
          "(it was not changed)",
      );
    }
    if (!isObject(parsed)) throw new UsageError(`${options.file} does not hold a JSON object; it was not changed`);
    config = parsed;
  }
  const servers = config.mcpServers ?? {};
  if (!isObject(servers)) {
    throw new UsageError(`${options.file}: "mcpServers" is not an object; fix it first (the file was not changed)`);
  }
  const replaced = Object.hasOwn(servers, name);
  if (replaced && !options.force) {
    throw new UsageError(
      `${options.file} already has an MCP server named "${name}"; pass --force to replace it, or --name to add another`,
    );
  }
  const kept = Object.keys(servers).filter((k) => k !== name);
  const next = { ...config, mcpServers: { ...servers, [name]: entry } };
  return { text: `${JSON.stringify(next, null, 2)}\n`, replaced, kept };
}

export async function readIfExists(file: string): Promise<string | undefined> {
  try {
    return await readFile(file, "utf8");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw new UsageError(`cannot read ${file}: ${(error as Error).message}`);
  }
}

/**
 * Write `text` to `file`: the old file copied to `<file>.<timestamp>.bak` first, the new one written to a
 * temporary file and renamed over it, so a crash leaves the old file or the new one, never half of one.
 * Returns the backup's path (undefined when there was no file).
 */
export async function writeWithBackup(file: string, text: string, hadFile: boolean): Promise<string | undefined> {
  await mkdir(path.dirname(file), { recursive: true });
  let backup: string | undefined;
  if (hadFile) {
    backup = `${file}.${new Date().toISOString().replace(/[:.]/g, "-")}.bak`;
    await copyFile(file, backup);
  }
  const tmp = `${file}.${process.pid}.tmp`;
  await writeFile(tmp, text, { mode: 0o600 });
  await rename(tmp, file);
  return backup;
}
