import { execFileSync } from "node:child_process";
import {
  closeSync,
  ftruncateSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readRegularFile } from "../../src/ingest/read-file.js";
import { runMrag } from "../helpers/cli.js";

/**
 * Odd files inside the folders being ingested (issue 18, item 5): a FIFO, a device, a `/proc` file that claims
 * size 0, a 2 GiB sparse file and a name holding a newline. Each is refused or read quickly, never a hang (a
 * FIFO opened for reading blocks until a writer comes; /dev/zero never ends), with its reason in the summary,
 * and the rest of the folder still ingests. Run through the built CLI as a user would.
 */

interface Summary {
  added: string[];
  skipped: { source: string; reason: string; detail?: string }[];
}

const parse = (stdout: string): Summary => JSON.parse(stdout) as Summary;
const noStack = (stderr: string) => expect(stderr).not.toMatch(/\n\s+at /);

function tryMknod(file: string): boolean {
  try {
    execFileSync("mknod", [file, "c", "1", "5"], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}

describe("odd files inside the allowed roots", () => {
  let dir: string;
  let docs: string;
  let hasDevice = false;

  beforeAll(() => {
    dir = mkdtempSync(path.join(tmpdir(), "mrag-odd-"));
    docs = path.join(dir, "docs");
    mkdirSync(docs);
    writeFileSync(path.join(docs, "good.md"), "# Good\n\nA plain document about vector databases.\n");
    execFileSync("mkfifo", [path.join(docs, "pipe.md")]);
    // A device under a readable name: mknod needs CAP_MKNOD (root outside a restricted container).
    hasDevice = tryMknod(path.join(docs, "zero.txt"));
    if (!hasDevice) console.warn("odd-files: mknod not permitted here; the device is covered via a symlink only");
    symlinkSync("/dev/zero", path.join(docs, "zero-link.txt"));
    // 2 GiB that take no disk space.
    const fd = openSync(path.join(docs, "sparse.md"), "w");
    ftruncateSync(fd, 2 * 1024 ** 3);
    closeSync(fd);
    writeFileSync(path.join(docs, "two\nlines.md"), "# Newline\n\nA file whose name holds a newline.\n");
  });

  afterAll(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it("a folder walk ingests the good file and names every odd one with its reason", async () => {
    const started = Date.now();
    const r = await runMrag(["--store", path.join(dir, "store"), "ingest", "docs", "--json"], { cwd: dir });
    const ms = Date.now() - started;
    noStack(r.stderr);
    expect(r.code, r.stderr).not.toBeNull();
    const summary = parse(r.stdout);
    expect(summary.added).toEqual(["docs/good.md"]);
    const bySource = new Map(summary.skipped.map((s) => [s.source, s]));
    expect(bySource.get("docs/pipe.md")).toMatchObject({
      reason: "unsupported",
      detail: expect.stringMatching(/FIFO/),
    });
    expect(bySource.get("docs/sparse.md")).toMatchObject({
      reason: "too-large",
      detail: expect.stringMatching(/2147483648 bytes/),
    });
    // One line in any summary: the newline is shown escaped.
    expect(bySource.get("docs/two\\nlines.md")).toMatchObject({
      reason: "unsupported",
      detail: expect.stringMatching(/control character.*rename/),
    });
    if (hasDevice) {
      expect(bySource.get("docs/zero.txt")).toMatchObject({
        reason: "unsupported",
        detail: expect.stringMatching(/character device/),
      });
    }
    // Walks do not follow symlinks: the link to /dev/zero is not read at all.
    expect(bySource.has("docs/zero-link.txt")).toBe(false);
    for (const s of summary.skipped) expect(s.source).not.toMatch(/[\n\r]/);
    // Generous: start-up plus one tiny file; a hang would never finish.
    expect(ms).toBeLessThan(60_000);
  }, 90_000);

  it("named explicitly: a link to /dev/zero, a FIFO and a /proc file are refused or read within the cap", async () => {
    const store = path.join(dir, "store-explicit");
    const r = await runMrag(
      ["--store", store, "ingest", "docs/zero-link.txt", "docs/pipe.md", "/proc/self/status", "--json"],
      { cwd: dir },
    );
    noStack(r.stderr);
    const summary = parse(r.stdout);
    const bySource = new Map(summary.skipped.map((s) => [s.source, s]));
    // Named inputs are resolved to their real paths (one id per file, src/tools/source-root.ts): the link is
    // reported as the device it points to, and /proc/self as the reading process's own folder.
    expect(bySource.get("/dev/zero")).toMatchObject({
      reason: "unsupported",
      detail: expect.stringMatching(/character device/),
    });
    expect(bySource.get("docs/pipe.md")).toMatchObject({
      reason: "unsupported",
      detail: expect.stringMatching(/FIFO/),
    });
    // /proc/self/status says size 0 but holds text: it is read (to EOF, within the cap) and ingested.
    expect(summary.added).toEqual([expect.stringMatching(/^\/proc\/\d+\/status$/)]);

    const capped = await runMrag(
      ["--store", store, "ingest", "/proc/self/status", "--max-file-bytes", "100", "--force", "--json"],
      { cwd: dir },
    );
    noStack(capped.stderr);
    expect(parse(capped.stdout).skipped).toEqual([
      {
        source: expect.stringMatching(/^\/proc\/\d+\/status$/),
        reason: "too-large",
        detail: expect.stringMatching(/more than 100 bytes when read \(it claimed 0\)/),
      },
    ]);
  }, 90_000);

  it("a file swapped for a FIFO or a device after the walk is refused when read, without blocking", async () => {
    const fifo = await readRegularFile(path.join(docs, "pipe.md"), "docs/pipe.md", { maxBytes: 1000, noFollow: true });
    expect(fifo).toMatchObject({ reason: "unsupported", detail: expect.stringMatching(/FIFO/) });
    const zero = await readRegularFile("/dev/zero", "zero", { maxBytes: 1000, noFollow: false });
    expect(zero).toMatchObject({ reason: "unsupported", detail: expect.stringMatching(/character device/) });
    const link = await readRegularFile(path.join(docs, "zero-link.txt"), "docs/zero-link.txt", {
      maxBytes: 1000,
      noFollow: true,
    });
    expect(link).toMatchObject({ reason: "unreadable", detail: expect.stringMatching(/ELOOP/) });
    const good = await readRegularFile(path.join(docs, "good.md"), "docs/good.md", { maxBytes: 1000, noFollow: true });
    expect(Buffer.isBuffer(good) && good.toString("utf8")).toMatch(/^# Good/);
  });
});
