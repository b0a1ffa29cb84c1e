import { spawn } from "node:child_process";
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { reapOnExit } from "../helpers/children.js";
import { REPO_ROOT } from "../helpers/workspace.js";

/**
 * The launcher's native stderr (src/cli/native-stderr.ts), on the built module: what native code writes to
 * fd 2 itself (here a plain write to descriptor 2, as Rust's panic hook does) is dropped, while
 * process.stderr, console.error, warnings and an uncaught exception still reach the stderr the process was
 * given (a file here, as `2>file`). With MRAG_DEBUG set nothing changes. (A LanceDB panic: garbled-store.)
 */

const MODULE = pathToFileURL(path.join(REPO_ROOT, "dist", "src", "cli", "native-stderr.js")).href;
const SCRIPT = `
const { writeSync } = await import("node:fs");
const { silenceNativeStderr } = await import(${JSON.stringify(MODULE)});
const done = silenceNativeStderr();
writeSync(2, "native line\\n");
process.stderr.write("js line " + done + "\\n");
console.error("console line");
setTimeout(() => { throw new Error("uncaught line"); }, 5);
`;

const dir = mkdtempSync(path.join(tmpdir(), "mrag-native-stderr-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function run(env: Record<string, string>): Promise<{ code: number | null; stderr: string }> {
  const file = path.join(dir, `stderr-${Math.random().toString(36).slice(2)}.txt`);
  const fd = openSync(file, "w");
  const { MRAG_DEBUG: _debug, RUST_LOG: _rust, LANCEDB_LOG: _lance, ...base } = process.env;
  const child = reapOnExit(
    spawn(process.execPath, ["--input-type=module", "-e", SCRIPT], {
      env: { ...base, ...env },
      stdio: ["ignore", "ignore", fd],
    }),
  );
  closeSync(fd);
  return new Promise((resolve, reject) => {
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, stderr: readFileSync(file, "utf8") }));
  });
}

describe.skipIf(process.platform === "win32")("native stderr", () => {
  it("drops what is written to fd 2 directly and keeps everything written through Node", async () => {
    const r = await run({});
    expect(r.code).toBe(1);
    expect(r.stderr).not.toMatch(/native line/);
    expect(r.stderr).toMatch(/^js line true\nconsole line\nError: uncaught line\n/);
  });

  it("changes nothing with MRAG_DEBUG set", async () => {
    const r = await run({ MRAG_DEBUG: "1" });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^native line\njs line false\nconsole line\n/);
    expect(r.stderr).toMatch(/Error: uncaught line/);
  });
});
