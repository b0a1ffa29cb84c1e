/**
 * `mrag install-client`: writes into temp HOME folders (never the real ones), merges with what is there, backs
 * up, refuses to replace without --force, and the written entry starts a server that lists its tools.
 */
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runMrag, userEnv } from "../helpers/cli.js";
import { makeWorkspace, type Workspace } from "../helpers/workspace.js";

interface ServerEntry {
  type?: string;
  command: string;
  args: string[];
  env: Record<string, string>;
}
interface ClientFile {
  mcpServers: Record<string, ServerEntry>;
  [key: string]: unknown;
}

let ws: Workspace;
let home: string;
/** PATH without any `claude` CLI, so Claude Code gets the project `.mcp.json`. */
const noClaudePath = "/usr/bin:/bin";

beforeAll(() => {
  ws = makeWorkspace();
  home = mkdtempSync(path.join(tmpdir(), "mrag-home-"));
});
afterAll(async () => {
  await ws?.cleanup();
  if (home) rmSync(home, { recursive: true, force: true });
});

const env = (extra: Record<string, string> = {}) => ({
  HOME: home,
  XDG_CONFIG_HOME: "",
  MRAG_STORE: ws.storeDir,
  PATH: noClaudePath,
  ...extra,
});
const desktopFile = () => path.join(home, ".config", "Claude", "claude_desktop_config.json");
const read = (file: string) => JSON.parse(readFileSync(file, "utf8")) as ClientFile;

/** Start a configured entry as the client would (from /, its env only) and list the tools. */
async function toolsOf(entry: ServerEntry): Promise<string[]> {
  const transport = new StdioClientTransport({
    command: entry.command,
    args: entry.args,
    cwd: "/",
    env: userEnv(entry.env),
    stderr: "pipe",
  });
  const client = new Client({ name: "install-client-test", version: "0" });
  await client.connect(transport);
  try {
    return (await client.listTools()).tools.map((t) => t.name).sort();
  } finally {
    await client.close();
  }
}

describe("mrag install-client claude-desktop", () => {
  it("merges into the existing file (other servers and keys kept), backs it up, and the entry starts mrag", async () => {
    mkdirSync(path.dirname(desktopFile()), { recursive: true });
    const before = { globalShortcut: "Ctrl+Space", mcpServers: { other: { command: "other-server", args: ["x"] } } };
    writeFileSync(desktopFile(), JSON.stringify(before));

    const r = await runMrag(["install-client", "claude-desktop"], { cwd: ws.dir, env: env() });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe("");
    expect(r.stderr).toMatch(/added "mrag" in .*claude_desktop_config\.json; kept other; the old file is .*\.bak/);
    const after = read(desktopFile());
    expect(after.globalShortcut).toBe("Ctrl+Space");
    expect(after.mcpServers.other).toEqual(before.mcpServers.other);
    const entry = after.mcpServers.mrag as ServerEntry;
    expect(entry.command).toBe(process.execPath);
    expect(path.isAbsolute(entry.args[0] as string)).toBe(true);
    expect(entry.args.slice(1)).toEqual(["serve"]);
    expect(entry.env).toEqual({ MRAG_STORE: ws.storeDir, MRAG_ALLOW_ROOTS: ws.dir });
    const backups = readdirSync(path.dirname(desktopFile())).filter((f) => f.endsWith(".bak"));
    expect(backups).toHaveLength(1);
    expect(JSON.parse(readFileSync(path.join(path.dirname(desktopFile()), backups[0] as string), "utf8"))).toEqual(
      before,
    );

    expect(await toolsOf(entry)).toEqual(["delete_source", "ingest", "list_sources", "read", "search", "status"]);
  }, 60_000);

  it("refuses an existing entry unless --force; --dry-run prints and writes nothing", async () => {
    const again = await runMrag(["install-client", "claude-desktop"], { cwd: ws.dir, env: env() });
    expect(again.code).toBe(2);
    expect(again.stderr).toMatch(/already has an MCP server named "mrag"; pass --force to replace it, or --name/);

    const text = readFileSync(desktopFile(), "utf8");
    const dry = await runMrag(["install-client", "claude-desktop", "--read-only", "--force", "--dry-run"], {
      cwd: ws.dir,
      env: env(),
    });
    expect(dry.code, dry.stderr).toBe(0);
    expect(dry.stderr).toMatch(/would write .*claude_desktop_config\.json.*nothing written/);
    expect((JSON.parse(dry.stdout) as ClientFile).mcpServers.mrag?.args.at(-1)).toBe("--read-only");
    expect(readFileSync(desktopFile(), "utf8")).toBe(text);

    const forced = await runMrag(["install-client", "claude-desktop", "--read-only", "--force"], {
      cwd: ws.dir,
      env: env(),
    });
    expect(forced.code, forced.stderr).toBe(0);
    expect(forced.stderr).toMatch(/replaced "mrag"/);
    const entry = read(desktopFile()).mcpServers.mrag as ServerEntry;
    expect(entry.args.at(-1)).toBe("--read-only");
    expect(read(desktopFile()).mcpServers.other).toBeDefined();
    expect(await toolsOf(entry)).toEqual(["list_sources", "read", "search", "status"]);
  }, 60_000);

  it("never overwrites a file it cannot parse, and checks the server name", async () => {
    const dir = mkdtempSync(path.join(tmpdir(), "mrag-home-bad-"));
    try {
      const file = path.join(dir, ".config", "Claude", "claude_desktop_config.json");
      mkdirSync(path.dirname(file), { recursive: true });
      writeFileSync(file, "{ // a comment\n}");
      const r = await runMrag(["install-client", "claude-desktop"], { cwd: ws.dir, env: env({ HOME: dir }) });
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(/claude_desktop_config\.json is not valid JSON .*it was not changed/);
      expect(readFileSync(file, "utf8")).toBe("{ // a comment\n}");
      const name = await runMrag(["install-client", "cursor", "--name", "bad name"], { cwd: ws.dir, env: env() });
      expect(name.code).toBe(2);
      expect(name.stderr).toMatch(/--name "bad name": use letters, digits/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("mrag install-client cursor and claude-code", () => {
  it("writes the project .cursor/mcp.json (or ~/.cursor/mcp.json with --global) under a chosen name", async () => {
    const project = await runMrag(["install-client", "cursor", "--name", "docs"], { cwd: ws.dir, env: env() });
    expect(project.code, project.stderr).toBe(0);
    const projectEntry = read(path.join(ws.dir, ".cursor", "mcp.json")).mcpServers.docs as ServerEntry;
    expect(projectEntry.env.MRAG_STORE).toBe(ws.storeDir);
    const global = await runMrag(["install-client", "cursor", "--global"], { cwd: ws.dir, env: env() });
    expect(global.code, global.stderr).toBe(0);
    const globalEntry = read(path.join(home, ".cursor", "mcp.json")).mcpServers.mrag as ServerEntry;
    expect(await toolsOf(globalEntry)).toContain("search");
  }, 60_000);

  it("without the claude CLI, writes the project .mcp.json with a stdio entry that starts mrag", async () => {
    const r = await runMrag(["install-client", "claude-code"], { cwd: ws.dir, env: env() });
    expect(r.code, r.stderr).toBe(0);
    const entry = read(path.join(ws.dir, ".mcp.json")).mcpServers.mrag as ServerEntry;
    expect(entry.type).toBe("stdio");
    expect(await toolsOf(entry)).toContain("ingest");
    const global = await runMrag(["install-client", "claude-code", "--global", "--force"], { cwd: ws.dir, env: env() });
    expect(global.code).toBe(2);
    expect(global.stderr).toMatch(/--global for Claude Code needs the claude CLI/);
  }, 60_000);

  it("with a claude CLI on PATH, calls `claude mcp add` (the CLI is not installed here: a script records its calls)", async () => {
    const bin = mkdtempSync(path.join(tmpdir(), "mrag-claude-bin-"));
    try {
      const log = path.join(bin, "calls.log");
      // Knows one server, "taken"; records every call.
      writeFileSync(
        path.join(bin, "claude"),
        `#!/bin/sh\necho "$@" >> ${log}\nif [ "$1 $2" = "mcp get" ]; then [ "$3" = "taken" ]; exit $?; fi\nexit 0\n`,
      );
      chmodSync(path.join(bin, "claude"), 0o755);
      const withClaude = env({ PATH: `${bin}:${noClaudePath}` });
      const r = await runMrag(["install-client", "claude-code"], { cwd: ws.dir, env: withClaude });
      expect(r.code, r.stderr).toBe(0);
      const calls = readFileSync(log, "utf8").trim().split("\n");
      expect(calls[0]).toBe("mcp get mrag");
      expect(calls[1]).toMatch(
        new RegExp(
          `^mcp add -s local mrag -e MRAG_STORE=${ws.storeDir} -e MRAG_ALLOW_ROOTS=${ws.dir} -- ${process.execPath} /.*bin/mrag\\.js serve$`,
        ),
      );
      const taken = await runMrag(["install-client", "claude-code", "--name", "taken"], {
        cwd: ws.dir,
        env: withClaude,
      });
      expect(taken.code).toBe(2);
      expect(taken.stderr).toMatch(/Claude Code already has an MCP server named "taken"/);
      const forced = await runMrag(["install-client", "claude-code", "--name", "taken", "--force", "--global"], {
        cwd: ws.dir,
        env: withClaude,
      });
      expect(forced.code, forced.stderr).toBe(0);
      const last = readFileSync(log, "utf8").trim().split("\n").slice(-2);
      expect(last[0]).toBe("mcp remove -s user taken");
      expect(last[1]).toMatch(/^mcp add -s user taken /);
      expect(existsSync(path.join(home, ".claude.json"))).toBe(false);
    } finally {
      rmSync(bin, { recursive: true, force: true });
    }
  });
});

describe("clientConfigPath", () => {
  it("knows Claude Desktop's file on macOS, Windows and Linux", async () => {
    const { clientConfigPath } = await import("../../src/cli/client-config.js");
    const { homedir } = await import("node:os");
    const at = (platform: NodeJS.Platform, envVars: NodeJS.ProcessEnv = {}) =>
      clientConfigPath("claude-desktop", { global: false, cwd: "/p", env: envVars, platform });
    expect(at("darwin")).toBe(path.join(homedir(), "Library/Application Support/Claude/claude_desktop_config.json"));
    expect(at("win32", { APPDATA: "/appdata" })).toBe(path.join("/appdata", "Claude", "claude_desktop_config.json"));
    expect(at("linux", { XDG_CONFIG_HOME: "/xdg" })).toBe("/xdg/Claude/claude_desktop_config.json");
    expect(clientConfigPath("claude-code", { global: false, cwd: "/p", env: {} })).toBe("/p/.mcp.json");
  });
});
