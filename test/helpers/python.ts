import { spawn, spawnSync } from "node:child_process";
import { describe, it } from "vitest";
import { pythonEnv } from "./milvus-lite.js";
import { REPO_ROOT } from "./workspace.js";

/**
 * Whether the Python parts of the suite can run: a `python3` (or `$PYTHON`) on PATH, from which
 * `scripts/python-env.sh` builds the pinned `.venv`. In CI (`CI` set) a missing Python is a failure; elsewhere
 * the suite is skipped under a name that says so, and the reason goes to stderr. Never a silent pass.
 */
export interface PythonAvailability {
  available: boolean;
  /** Why not, when not available. */
  reason: string;
}

let cached: PythonAvailability | undefined;

export function requirePython(): PythonAvailability {
  if (cached) return cached;
  const py = process.env.PYTHON ?? "python3";
  const probe = spawnSync(py, ["-c", "import sys, venv; print(sys.version_info >= (3, 10))"], { encoding: "utf8" });
  if (probe.error || probe.status !== 0) {
    cached = { available: false, reason: `no usable ${py} on PATH (Python >= 3.10 with the venv module is needed)` };
  } else if (probe.stdout.trim() !== "True") {
    cached = { available: false, reason: `${py} is older than Python 3.10` };
  } else {
    cached = { available: true, reason: "" };
  }
  return cached;
}

/**
 * `describe` for a suite that needs Python. Without Python: in CI one failing test naming the reason; outside
 * CI a skipped suite whose name starts with "SKIPPED (no Python)".
 */
export function describePython(name: string, body: () => void): void {
  const { available, reason } = requirePython();
  if (available) {
    describe(name, body);
    return;
  }
  if (process.env.CI) {
    describe(name, () => {
      it("has Python (CI must run the Python tests)", () => {
        throw new Error(`${name}: ${reason}; CI must install Python 3 with pip and venv (see .ci/run)`);
      });
    });
    return;
  }
  process.stderr.write(`\n*** SKIPPED (no Python): ${name}: ${reason}. Install python3 to run it. ***\n\n`);
  describe.skip(`SKIPPED (no Python): ${name} — ${reason}`, body);
}

/** The pinned venv's python (creating the venv on first use; fails with pip's reason when it cannot). */
export function venvPython(): string {
  return pythonEnv();
}

export interface PythonRun {
  code: number | null;
  stdout: string;
  stderr: string;
  ms: number;
}

/** Run a Python file or `-m module` with the venv's python; resolves when it exits (never rejects on a code). */
export function runPython(
  args: string[],
  options: { cwd?: string; env?: Record<string, string>; timeoutMs?: number } = {},
): Promise<PythonRun> {
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const child = spawn(venvPython(), args, {
      cwd: options.cwd ?? REPO_ROOT,
      env: { ...process.env, PYTHONUNBUFFERED: "1", PYTHONDONTWRITEBYTECODE: "1", ...options.env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => {
      stdout += d.toString();
    });
    child.stderr.on("data", (d: Buffer) => {
      stderr += d.toString();
    });
    const timer = setTimeout(() => {
      stderr += `\n[killed after ${options.timeoutMs} ms]`;
      child.kill("SIGKILL");
    }, options.timeoutMs ?? 120_000);
    child.on("error", (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr, ms: Date.now() - started });
    });
  });
}
