import { spawn } from "node:child_process";
import path from "node:path";
import { reapOnExit } from "./children.js";
import { REPO_ROOT } from "./workspace.js";

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export const MRAG_BIN = path.join(REPO_ROOT, "bin", "mrag.js");

/** The environment a user's shell or MCP client would give mrag: this one without MRAG_* settings, plus `extra`. */
export function userEnv(extra: Record<string, string> = {}): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined && !k.startsWith("MRAG_")) env[k] = v;
  return { ...env, ...extra };
}

/**
 * Run the built CLI (`bin/mrag.js` -> `dist/`) as a user would, with no inherited MRAG_* settings. With
 * `input`, that text is piped to stdin and then closed (like `echo ... | mrag chat`); otherwise stdin is empty.
 */
export function runMrag(
  args: string[],
  options: { cwd: string; env?: Record<string, string>; input?: string },
): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = reapOnExit(
      spawn(process.execPath, [MRAG_BIN, ...args], {
        cwd: options.cwd,
        env: userEnv(options.env),
        stdio: [options.input === undefined ? "ignore" : "pipe", "pipe", "pipe"],
      }),
    );
    if (options.input !== undefined) child.stdin?.end(options.input);
    let stdout = "";
    let stderr = "";
    child.stdout?.on("data", (d: Buffer) => {
      stdout += d.toString();
    });
    child.stderr?.on("data", (d: Buffer) => {
      stderr += d.toString();
    });
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, stdout, stderr }));
  });
}
