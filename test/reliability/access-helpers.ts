import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { reapOnExit } from "../helpers/children.js";
import { MRAG_BIN, userEnv } from "../helpers/cli.js";

/**
 * Helpers for the reliability suite: spawning the built CLI with input, running `mrag serve --http` as a
 * child process (the port it picked is read from its start-up line), and reading its memory high-water mark.
 */

/** A secret value nobody could produce by accident, so finding it anywhere proves a leak. */
export function distinctiveSecret(label: string): string {
  return `${label}-${randomBytes(12).toString("hex")}`;
}

export interface ServeProcess {
  /** The MCP endpoint the server announced, e.g. `http://127.0.0.1:40123/mcp`. */
  url: string;
  pid: number;
  child: ChildProcess;
  stdout(): string;
  stderr(): string;
  /** SIGTERM, then wait for the exit; resolves to the exit code. */
  stop(): Promise<number | null>;
}

/**
 * Start `mrag serve --http --port 0` (plus `args`) and wait for the line that names its URL
 * ("MCP over HTTP at http://127.0.0.1:<port>/mcp"), at info level or below.
 */
export function startServe(
  args: string[],
  options: { cwd: string; env?: Record<string, string>; timeoutMs?: number },
): Promise<ServeProcess> {
  return new Promise((resolve, reject) => {
    const child = reapOnExit(
      spawn(process.execPath, [MRAG_BIN, "serve", "--http", "--port", "0", ...args], {
        cwd: options.cwd,
        env: userEnv(options.env),
        stdio: ["ignore", "pipe", "pipe"],
      }),
    );
    let stdout = "";
    let stderr = "";
    let started = false;
    const exited = new Promise<number | null>((done) => child.on("exit", (code) => done(code)));
    const timer = setTimeout(() => {
      if (started) return;
      child.kill("SIGKILL");
      reject(new Error(`mrag serve did not announce its URL within ${options.timeoutMs ?? 30_000} ms:\n${stderr}`));
    }, options.timeoutMs ?? 30_000);
    child.stdout?.on("data", (d: Buffer) => {
      stdout += d.toString();
    });
    child.stderr?.on("data", (d: Buffer) => {
      stderr += d.toString();
      const match = /MCP over HTTP at (http:\/\/\S+\/mcp)/.exec(stderr);
      if (!started && match?.[1]) {
        started = true;
        clearTimeout(timer);
        resolve({
          url: match[1],
          pid: child.pid as number,
          child,
          stdout: () => stdout,
          stderr: () => stderr,
          async stop() {
            if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
            const killer = setTimeout(() => child.kill("SIGKILL"), 15_000);
            const code = await exited;
            clearTimeout(killer);
            return code;
          },
        });
      }
    });
    child.on("error", reject);
    void exited.then((code) => {
      if (!started) {
        clearTimeout(timer);
        reject(new Error(`mrag serve exited with ${code} before serving:\n${stderr}`));
      }
    });
  });
}

/** A process's resident-set high-water mark (VmHWM) and current RSS, in MiB, from /proc (Linux). */
export function memoryOf(pid: number): { peakMiB: number; rssMiB: number } | undefined {
  let status: string;
  try {
    status = readFileSync(`/proc/${pid}/status`, "utf8");
  } catch {
    return undefined;
  }
  const field = (name: string) => {
    const match = new RegExp(`^${name}:\\s+(\\d+) kB`, "m").exec(status);
    return match?.[1] === undefined ? Number.NaN : Number(match[1]) / 1024;
  };
  return { peakMiB: field("VmHWM"), rssMiB: field("VmRSS") };
}

/** The p-th percentile (0-100) of sorted numbers, nearest rank. */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank] as number;
}
