import type { ChildProcess } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";

/**
 * Processes that tests start must not outlive the test process. `reapOnExit` SIGKILLs a child still running
 * when the test process exits or is told to stop (SIGTERM / SIGINT / SIGHUP, as vitest does to its workers);
 * a SIGKILLed test process cannot run anything, so long-lived servers also ask the kernel (see
 * `parentDeathPrefix`).
 */
const live = new Set<ChildProcess>();
let hooked = false;

function reapAll(): void {
  for (const child of live) {
    try {
      child.kill("SIGKILL");
    } catch {
      // already gone
    }
  }
}

function hook(): void {
  if (hooked) return;
  hooked = true;
  process.on("exit", reapAll);
  for (const signal of ["SIGTERM", "SIGINT", "SIGHUP"] as const) {
    process.on(signal, () => {
      reapAll();
      // Only this hook handles it: behave like the default (die of the signal).
      if (process.listenerCount(signal) === 1) {
        process.removeAllListeners(signal);
        process.kill(process.pid, signal);
      }
    });
  }
}

/** Track `child` until it exits; returns it for chaining. */
export function reapOnExit<T extends ChildProcess>(child: T): T {
  if (child.exitCode !== null || child.signalCode !== null) return child;
  hook();
  live.add(child);
  child.once("exit", () => live.delete(child));
  return child;
}

/**
 * Linux: a command prefix that makes the kernel SIGKILL the server when the test process dies, even by
 * SIGKILL (`prctl(PR_SET_PDEATHSIG)`, which survives the `execv`). `python` is any CPython; elsewhere, [].
 */
export function parentDeathPrefix(python: string): string[] {
  if (process.platform !== "linux") return [];
  const script = [
    "import ctypes, os, signal, sys",
    "ctypes.CDLL(None).prctl(1, signal.SIGKILL)",
    // The parent may have died before prctl took effect: then we were re-parented already.
    `if os.getppid() != ${process.pid}: sys.exit(1)`,
    "os.execv(sys.argv[1], sys.argv[1:])",
  ].join("\n");
  return [python, "-c", script];
}

/**
 * Live processes (not zombies) whose environment holds `marker` (e.g. `MRAG_TEST_CHILD=<random>`), from
 * /proc: a marker in the environment is inherited by grandchildren (`sh -c`, `npx`) that never saw it in argv.
 */
export function processesWith(marker: string): number[] {
  const found: number[] = [];
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name) || Number(name) === process.pid) continue;
    try {
      const status = readFileSync(`/proc/${name}/status`, "utf8");
      if (/^State:\s+Z/m.test(status)) continue;
      const environ = readFileSync(`/proc/${name}/environ`, "utf8");
      if (environ.split("\0").includes(marker)) found.push(Number(name));
    } catch {
      // gone meanwhile, or not ours to read
    }
  }
  return found;
}
