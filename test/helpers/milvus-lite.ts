import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { parentDeathPrefix, reapOnExit } from "./children.js";

/**
 * A real Milvus-protocol server for tests: Milvus Lite (`milvus-lite server`, PyPI) from the project-local
 * `.venv` that `scripts/python-env.sh` creates with pinned versions. Each call starts its own server on a free
 * loopback port with its own data folder; `stop()` ends the process and removes the folder.
 */
export interface MilvusLiteServer {
  uri: string;
  port: number;
  dataDir: string;
  process: ChildProcess;
  stop(): Promise<void>;
}

const ROOT = resolve(import.meta.dirname, "../..");

/** The venv's python, creating the venv when needed. Throws with the reason when Python is missing. */
export function pythonEnv(): string {
  const out = execFileSync("bash", [join(ROOT, "scripts/python-env.sh")], {
    encoding: "utf8",
    stdio: ["ignore", "pipe", "inherit"],
  });
  const python = out.trim().split("\n").pop() ?? "";
  if (!existsSync(python)) throw new Error(`scripts/python-env.sh printed no python path (got "${python}")`);
  return python;
}

export function milvusLiteBinary(): string {
  const python = pythonEnv();
  return join(python, "..", "milvus-lite");
}

export async function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const server = createServer();
    server.once("error", rej);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address ? address.port : 0;
      server.close(() => res(port));
    });
  });
}

export async function startMilvusLite(options: { timeoutMs?: number } = {}): Promise<MilvusLiteServer> {
  const python = pythonEnv();
  const binary = join(python, "..", "milvus-lite");
  const dataDir = mkdtempSync(join(tmpdir(), "mrag-milvus-lite-"));
  const port = await freePort();
  // The kernel ends the server if this test process dies, even by SIGKILL; exit and signals are hooked too.
  const [command, ...args] = [
    ...parentDeathPrefix(python),
    binary,
    ...["server", "--data-dir", dataDir, "--host", "127.0.0.1", "--port", String(port)],
  ] as [string, ...string[]];
  const child = reapOnExit(spawn(command, args, { stdio: ["ignore", "pipe", "pipe"] }));
  let output = "";
  const ready = new Promise<void>((res, rej) => {
    const timer = setTimeout(
      () => rej(new Error(`milvus-lite did not start within ${options.timeoutMs ?? 60_000} ms:\n${output}`)),
      options.timeoutMs ?? 60_000,
    );
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      if (output.includes("listening on")) {
        clearTimeout(timer);
        res();
      }
    };
    child.stdout?.on("data", onData);
    child.stderr?.on("data", onData);
    child.once("exit", (code, signal) => {
      clearTimeout(timer);
      rej(new Error(`milvus-lite exited (${code ?? signal}) before listening:\n${output}`));
    });
  });
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise<void>((res) => child.once("exit", () => res()));
      child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), 5000);
      await exited;
      clearTimeout(timer);
    }
    rmSync(dataDir, { recursive: true, force: true });
  };
  try {
    await ready;
  } catch (error) {
    await stop();
    throw error;
  }
  return { uri: `http://127.0.0.1:${port}`, port, dataDir, process: child, stop };
}
