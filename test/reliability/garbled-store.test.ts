import { spawn } from "node:child_process";
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, rmSync, statSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { reapOnExit } from "../helpers/children.js";
import { MRAG_BIN, runMrag, userEnv } from "../helpers/cli.js";
import { answers, ingest, largestDataFile, workspace as makeWorkspace, sources } from "./repair-helpers.js";

/**
 * A LanceDB data file garbled in the middle, not truncated (issue 18, item 3): LanceDB's decoder panics in Rust
 * on such a page, and Rust's panic hook prints the panic, with RUST_BACKTRACE=1 a backtrace of dozens of lines,
 * straight to the process's fd 2. Through the built CLI, with RUST_BACKTRACE=1 set: every search fails with
 * exactly one line naming the store folder and the fix, nothing from Rust; another collection in the same
 * folder still answers; the next ingest repairs the collection (the rows that still read are kept, the rest
 * comes back from the documents) and searches then answer exactly as on a store that was never damaged.
 * With MRAG_DEBUG set the panic text is let through, which shows each case really is a panic.
 *
 * Where stderr goes matters (src/cli/native-stderr.ts): a terminal, a pipe or a file gets exactly the one line;
 * a socket (what Node's spawn gives a child, so an MCP client started from Node and runMrag here) cannot be
 * reopened, so there the backtrace is kept out but the panic's own lines remain before mrag's.
 */

let root: string;
const workspace = (name: string) => makeWorkspace(root, name);
/** The worst case a user's shell can give: backtraces asked for. */
const RUST_ENV = { RUST_BACKTRACE: "1" };

/** Overwrite `length` bytes at `offset` (negative: from the end) with 0xFF, keeping the file's size. */
function garble(file: string, offset: number, length = 64): void {
  const at = offset < 0 ? statSync(file).size + offset : offset;
  const fd = openSync(file, "r+");
  try {
    writeSync(fd, Buffer.alloc(length, 0xff), 0, length, at);
  } finally {
    closeSync(fd);
  }
}

/**
 * Run the built CLI with its stderr on a file (`2>file`) or a real pipe (`2>&1 | cat`, exit status kept by
 * pipefail), as a shell gives it; stdout is dropped.
 */
function runWithStderr(
  how: "file" | "pipe",
  args: string[],
  cwd: string,
): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve, reject) => {
    const env = userEnv(RUST_ENV);
    if (how === "file") {
      const file = path.join(root, `stderr-${Date.now()}-${Math.random().toString(36).slice(2)}.txt`);
      const fd = openSync(file, "w");
      const child = reapOnExit(
        spawn(process.execPath, [MRAG_BIN, ...args], { cwd, env, stdio: ["ignore", "ignore", fd] }),
      );
      closeSync(fd);
      child.on("error", reject);
      child.on("close", (code) => resolve({ code, stderr: readFileSync(file, "utf8") }));
      return;
    }
    const script = 'set -o pipefail; "$0" "$@" 2>&1 >/dev/null | cat';
    const child = reapOnExit(
      spawn("bash", ["-c", script, process.execPath, MRAG_BIN, ...args], {
        cwd,
        env,
        stdio: ["ignore", "pipe", "ignore"],
      }),
    );
    let stderr = "";
    child.stdout?.on("data", (d: Buffer) => {
      stderr += d.toString();
    });
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, stderr }));
  });
}

/** A search that fails on the damage, its stderr on a file or a pipe: exit 1, one line, nothing from Rust. */
async function failsInOneLine(dir: string, mode: string, how: "file" | "pipe" = "file"): Promise<string> {
  const r = await runWithStderr(how, ["search", "vector index", "--mode", mode], dir);
  expect(r.code, r.stderr).toBe(1);
  expect(r.stderr).not.toMatch(/stack backtrace|panicked|RUST_BACKTRACE|\/rustc\/|cargo\/registry|\n\s+\d+: /);
  const lines = r.stderr.trimEnd().split("\n");
  expect(lines, r.stderr).toHaveLength(1);
  return lines[0] as string;
}

const noteFile = (dir: string) => path.join(dir, ".mrag", "data", "damaged", "mrag.needs-repair.json");

beforeAll(() => {
  root = mkdtempSync(path.join(tmpdir(), "mrag-garbled-"));
});

afterAll(() => {
  rmSync(root, { recursive: true, force: true });
});

describe("a data file garbled in the middle (LanceDB panics)", () => {
  let clean: string;

  beforeAll(async () => {
    clean = workspace("clean");
    await ingest(clean, "docs");
    await ingest(clean, "extra");
  }, 120_000);

  it("a garbled first page: one line per search, the other collection answers, the next ingest repairs", async () => {
    const dir = workspace("page");
    await ingest(dir, "docs");
    await ingest(dir, "extra");
    await ingest(dir, "docs", ["--collection", "other"]);
    garble(largestDataFile(dir), 100);

    // The case is a Rust panic: with MRAG_DEBUG the panic text comes through.
    const debug = await runMrag(["search", "vector index"], { cwd: dir, env: { ...RUST_ENV, MRAG_DEBUG: "1" } });
    expect(debug.code).toBe(1);
    expect(debug.stderr).toMatch(/panicked at .*lance/);
    expect(debug.stderr).toMatch(/stack backtrace:/);

    const store = path.join(dir, ".mrag", "data");
    for (const [mode, how] of [
      ["hybrid", "file"],
      ["dense", "pipe"],
      ["keyword", "file"],
    ] as const) {
      expect(await failsInOneLine(dir, mode, how)).toBe(
        `mrag: ${mode} search in collection "mrag" failed: the store at ${store} is damaged (LanceDB crashed ` +
          "decoding its files); ingest your documents again to repair it (mrag ingest <paths>); if that fails, " +
          "move the folder away and ingest your documents again, or restore it from a backup",
      );
    }
    // A socket for stderr (Node's spawn): no backtrace, and mrag's line once; the panic's own lines stay (see
    // above), written by LanceDB's worker threads, so they may come before or after it (a second panic, on the
    // JoinError, has been seen after it).
    const socket = await runMrag(["search", "vector index"], { cwd: dir, env: RUST_ENV });
    expect(socket.code).toBe(1);
    expect(socket.stderr).not.toMatch(/stack backtrace|\n\s+\d+: /);
    const ours = socket.stderr.split("\n").filter((line) => line.startsWith("mrag: "));
    expect(ours, socket.stderr).toHaveLength(1);
    expect(ours[0]).toMatch(/^mrag: hybrid search .* is damaged/);
    // The search left the note that makes the next ingest repair (the ingest reads no text or vectors).
    expect(existsSync(noteFile(dir))).toBe(true);
    const other = await runMrag(["--collection", "other", "search", "vector index"], { cwd: dir, env: RUST_ENV });
    expect(other.code, other.stderr).toBe(0);
    expect(other.stdout).toMatch(/docs\//);

    // Only docs/ is ingested again: the note, which this ingest does not cover, is kept from the damaged store.
    const summary = await ingest(dir, "docs");
    const line = summary.split("\n").find((l) => l.startsWith("repaired"));
    expect(line, summary).toMatch(
      new RegExp(
        `^repaired the damaged collection "mrag" in ${store}: [1-9]\\d* unreadable chunk\\(s\\) dropped, [1-9]\\d* chunk\\(s\\) of [2-6] source\\(s\\) kept; 5 source\\(s\\) re-ingested$`,
      ),
    );
    expect(existsSync(noteFile(dir))).toBe(false);
    expect(await sources(dir)).toEqual(await sources(clean));
    expect(await answers(dir)).toEqual(await answers(clean));
    const again = await ingest(dir, "docs");
    expect(again).not.toMatch(/repaired/);
    expect(again).toMatch(/0 added, 0 updated, 5 unchanged/);
  }, 300_000);

  it("garbled column metadata (no row of the file reads): one line; the ingest drops the file and re-ingests", async () => {
    const dir = workspace("metadata");
    await ingest(dir, "docs");
    await ingest(dir, "extra");
    garble(largestDataFile(dir), -200);
    const debug = await runMrag(["search", "vector index"], { cwd: dir, env: { ...RUST_ENV, MRAG_DEBUG: "1" } });
    expect(debug.stderr).toMatch(/panicked at .*lance/);
    expect(await failsInOneLine(dir, "hybrid", "pipe")).toMatch(
      /the store at .* is damaged .*ingest your documents again/,
    );

    const summary = await ingest(dir, "docs");
    const line = summary.split("\n").find((l) => l.startsWith("repaired"));
    // Every chunk of the FAQ's file is lost; the note's own file reads and is kept.
    expect(line, summary).toMatch(
      /: [1-9]\d* unreadable chunk\(s\) dropped, 1 chunk\(s\) of 1 source\(s\) kept; 5 source\(s\) re-ingested$/,
    );
    expect(await sources(dir)).toEqual(await sources(clean));
    expect(await answers(dir)).toEqual(await answers(clean));
  }, 300_000);
});
