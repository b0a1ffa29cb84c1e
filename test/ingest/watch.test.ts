/**
 * `mrag watch` / `serve --watch`: real files, the real embedded store and the builtin embedder. Every wait polls
 * the store (or the watcher's idle state) with a generous bound; nothing depends on a fixed sleep.
 */
import { spawn } from "node:child_process";
import { mkdirSync, readdirSync, renameSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { afterEach, describe, expect, it } from "vitest";
import { loadConfig } from "../../src/config/index.js";
import { silentLogger } from "../../src/log.js";
import type { Store } from "../../src/store/types.js";
import { createContext, type MragContext } from "../../src/tools/context.js";
import { runIngest } from "../../src/tools/ingest.js";
import { startWatch, type WatchHandle } from "../../src/tools/watch.js";
import { reapOnExit } from "../helpers/children.js";
import { MRAG_BIN, runMrag, userEnv } from "../helpers/cli.js";
import { makeWorkspace, type Workspace } from "../helpers/workspace.js";

const WAIT_MS = 30_000;

/** Poll `probe` until it returns true, at most `WAIT_MS`; the failure names what was awaited. */
async function until(what: string, probe: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + WAIT_MS;
  for (;;) {
    if (await probe()) return;
    if (Date.now() > deadline) throw new Error(`timed out after ${WAIT_MS} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function sources(context: MragContext): Promise<string[]> {
  const collection = await context.collection({ create: true });
  return (await collection.listSources()).map((s) => s.source).sort();
}

async function keywordHits(context: MragContext, query: string): Promise<string[]> {
  const collection = await context.collection({ create: true });
  const hits = await collection.search({ text: query, k: 5, mode: "keyword" });
  return hits.map((h) => h.chunk.source);
}

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

function workspace(flags: Record<string, unknown> = {}): Workspace {
  const ws = makeWorkspace({ copyFaq: false, flags: { "ingest.watchDebounceMs": 100, ...flags } });
  mkdirSync(ws.docs);
  cleanups.push(() => ws.cleanup());
  return ws;
}

/** Another writer: takes the store's write lock and holds it until `release()`; `held` settles once it let go. */
async function holdWriteLock(store: Store): Promise<{ release: () => void; held: Promise<void> }> {
  let release: () => void = () => {};
  let held: Promise<void> = Promise.resolve();
  await new Promise<void>((taken) => {
    held = store.withWriteLock(
      () =>
        new Promise<void>((resolve) => {
          release = resolve;
          taken();
        }),
    );
  });
  return { release, held };
}

async function watching(ws: Workspace, folders = [ws.docs]): Promise<WatchHandle> {
  const handle = await startWatch(ws.context, { folders });
  cleanups.push(() => handle.close());
  return handle;
}

describe("startWatch", () => {
  it("syncs once at start, then follows add, change, delete and rename; searches see each state", async () => {
    const ws = workspace();
    writeFileSync(path.join(ws.docs, "alpha.md"), "# Alpha\n\nThe aardvark eats ants at night.\n");
    writeFileSync(path.join(ws.docs, "skip.gz"), "not text");
    await watching(ws);
    expect(await sources(ws.context)).toEqual(["docs/alpha.md"]);

    writeFileSync(path.join(ws.docs, "beta.md"), "# Beta\n\nThe bumblebee visits blossoms.\n");
    await until("beta.md to be searchable", async () =>
      (await keywordHits(ws.context, "bumblebee")).includes("docs/beta.md"),
    );

    writeFileSync(path.join(ws.docs, "alpha.md"), "# Alpha\n\nThe axolotl regrows limbs.\n");
    await until("alpha.md to be re-indexed", async () =>
      (await keywordHits(ws.context, "axolotl")).includes("docs/alpha.md"),
    );
    expect(await keywordHits(ws.context, "aardvark")).toEqual([]);

    renameSync(path.join(ws.docs, "beta.md"), path.join(ws.docs, "gamma.md"));
    await until("the rename to show as delete + add", async () => {
      const now = await sources(ws.context);
      return now.includes("docs/gamma.md") && !now.includes("docs/beta.md");
    });
    expect(await keywordHits(ws.context, "bumblebee")).toEqual(["docs/gamma.md"]);

    rmSync(path.join(ws.docs, "alpha.md"));
    await until("alpha.md to be removed", async () => !(await sources(ws.context)).includes("docs/alpha.md"));
    expect(await sources(ws.context)).toEqual(["docs/gamma.md"]);
  });

  it("takes an editor's save (write a temp file, rename it over the original) as one change of that file", async () => {
    const ws = workspace();
    const file = path.join(ws.docs, "notes.md");
    writeFileSync(file, "# Notes\n\nThe first draft mentions walruses.\n");
    await watching(ws);
    const tmp = path.join(ws.docs, ".notes.md.swp");
    writeFileSync(tmp, "# Notes\n\nThe second draft mentions narwhals.\n");
    renameSync(tmp, file);
    // vim's `4913` probe and a backup file: created and deleted around the save.
    writeFileSync(path.join(ws.docs, "4913"), "");
    rmSync(path.join(ws.docs, "4913"));
    await until("the saved text to be searchable", async () =>
      (await keywordHits(ws.context, "narwhals")).includes("docs/notes.md"),
    );
    expect(await keywordHits(ws.context, "walruses")).toEqual([]);
    expect(await sources(ws.context)).toEqual(["docs/notes.md"]);
  });

  it("coalesces a burst of changes into few syncs, and follows folders created and removed while watching", async () => {
    const ws = workspace({ "ingest.watchDebounceMs": 300 });
    const syncs: number[] = [];
    const handle = await startWatch(ws.context, {
      folders: [ws.docs],
      onSync: (summary) => syncs.push(summary.added.length + summary.updated.length),
    });
    cleanups.push(() => handle.close());
    expect(syncs).toHaveLength(1);
    const nested = path.join(ws.docs, "a", "b");
    mkdirSync(nested, { recursive: true });
    for (let i = 0; i < 40; i++) writeFileSync(path.join(nested, `n${i}.md`), `# Note ${i}\n\nQuokka number ${i}.\n`);
    await until("all 40 notes", async () => (await sources(ws.context)).length === 40);
    await handle.idle();
    // One sync at start plus the burst: far fewer than 40, however the events were spread.
    expect(syncs.length - 1).toBeLessThanOrEqual(5);
    expect(syncs.slice(1).reduce((a, b) => a + b, 0)).toBe(40);

    // Files written into a folder the watcher has just seen appear are not missed.
    const fresh = path.join(ws.docs, "fresh");
    mkdirSync(fresh);
    writeFileSync(path.join(fresh, "late.md"), "# Late\n\nA pangolin arrives late.\n");
    await until("late.md", async () => (await sources(ws.context)).includes("docs/fresh/late.md"));

    rmSync(path.join(ws.docs, "a"), { recursive: true });
    await until("the removed folder's sources to go", async () =>
      (await sources(ws.context)).every((s) => !s.startsWith("docs/a/")),
    );
    expect(await sources(ws.context)).toEqual(["docs/fresh/late.md"]);
  });

  it("keeps the ingest rules: .gitignore (changes to it included), unsupported types, hidden files", async () => {
    const ws = workspace();
    writeFileSync(path.join(ws.docs, ".gitignore"), "drafts/\n");
    mkdirSync(path.join(ws.docs, "drafts"));
    writeFileSync(path.join(ws.docs, "drafts", "d.md"), "# Draft\n\nSecret okapi plans.\n");
    writeFileSync(path.join(ws.docs, "kept.md"), "# Kept\n\nA kept document.\n");
    const handle = await watching(ws);
    writeFileSync(path.join(ws.docs, "drafts", "d2.md"), "# Draft 2\n\nMore okapi plans.\n");
    writeFileSync(path.join(ws.docs, ".hidden.md"), "# Hidden\n\nokapi\n");
    writeFileSync(path.join(ws.docs, "blob.bin"), "okapi");
    writeFileSync(path.join(ws.docs, "marker.md"), "# Marker\n\nThe marker file.\n");
    await until("marker.md", async () => (await sources(ws.context)).includes("docs/marker.md"));
    await handle.idle();
    expect(await sources(ws.context)).toEqual(["docs/kept.md", "docs/marker.md"]);

    // Un-ignoring the folder brings its files in; ignoring kept.md again takes it out.
    writeFileSync(path.join(ws.docs, ".gitignore"), "kept.md\n");
    await until("the new .gitignore to apply", async () => {
      const now = await sources(ws.context);
      return now.includes("docs/drafts/d.md") && !now.includes("docs/kept.md");
    });
    expect(await sources(ws.context)).toEqual(["docs/drafts/d.md", "docs/drafts/d2.md", "docs/marker.md"]);
  });

  it("waits for another writer holding the store lock", async () => {
    const ws = workspace();
    const handle = await watching(ws);
    const store = await ws.context.store();
    // Another writer (an ingest) holds the lock while the file changes: the watcher's sync queues behind it.
    const { release, held } = await holdWriteLock(store);
    writeFileSync(path.join(ws.docs, "queued.md"), "# Queued\n\nA capybara waits its turn.\n");
    // A negative check: under load it only sees less, it cannot fail spuriously.
    await new Promise((r) => setTimeout(r, 400));
    expect(await sources(ws.context)).toEqual([]);
    release();
    await held;
    await until("queued.md after the lock is free", async () => (await sources(ws.context)).includes("docs/queued.md"));
    await handle.idle();
  });

  it("retries a sync that failed (the lock held past lockWaitMs) and logs why, to the logger only", async () => {
    const ws = workspace({ lockWaitMs: 100 });
    const warnings: string[] = [];
    const logger = { ...silentLogger, warn: (m: string) => warnings.push(m) };
    const context = createContext(ws.config, { cwd: ws.dir, logger });
    cleanups.push(() => context.close());
    const handle = await startWatch(context, { folders: [ws.docs] });
    cleanups.push(() => handle.close());
    const store = await context.store();
    const { release, held } = await holdWriteLock(store);
    writeFileSync(path.join(ws.docs, "retried.md"), "# Retried\n\nA tapir tries again.\n");
    await until("the busy sync to be logged", async () => warnings.some((w) => /watch: sync failed/.test(w)));
    release();
    await held;
    await until("retried.md once the lock is free", async () => (await sources(context)).includes("docs/retried.md"));
  });

  it("closes every file watch it opened", async () => {
    const watches = () => process.getActiveResourcesInfo().filter((r) => r === "FSEventWrap").length;
    // Watches closed by the previous tests' cleanup are freed on a later loop turn: let them go first.
    await new Promise((r) => setTimeout(r, 50));
    const before = watches();
    const ws = workspace();
    mkdirSync(path.join(ws.docs, "x", "y"), { recursive: true });
    const handle = await startWatch(ws.context, { folders: [ws.docs] });
    expect(watches()).toBeGreaterThan(before);
    await handle.close();
    // libuv frees a closed handle on its next loop turn.
    await until("the watches to be released", async () => watches() <= before);
  });

  it("refuses a folder outside the allowed roots when asked to check them (serve --watch), and a file", async () => {
    const ws = workspace({ "server.allowRoots": ["docs"] });
    const outside = path.join(ws.dir, "elsewhere");
    mkdirSync(outside);
    await expect(startWatch(ws.context, { folders: [outside], checkAllowedRoots: true })).rejects.toThrow(
      /outside the allowed roots|not inside|allowed root/,
    );
    writeFileSync(path.join(ws.docs, "f.md"), "# F\n\ntext\n");
    await expect(startWatch(ws.context, { folders: [path.join(ws.docs, "f.md")] })).rejects.toThrow(
      /is a file; watch the folder/,
    );
    await expect(startWatch(ws.context, { folders: [path.join(ws.dir, "nope")] })).rejects.toThrow(
      /no such folder to watch/,
    );
  });
});

describe("mrag watch (the CLI)", () => {
  it("syncs, follows a change, logs to stderr only, and stops cleanly on SIGINT and SIGTERM (lock released)", async () => {
    for (const signal of ["SIGINT", "SIGTERM"] as const) {
      const ws = workspace();
      writeFileSync(path.join(ws.docs, "one.md"), "# One\n\nThe first elk.\n");
      const child = reapOnExit(
        spawn(process.execPath, [MRAG_BIN, "watch", "docs", "--debounce", "100"], {
          cwd: ws.dir,
          env: userEnv({ MRAG_STORE: ws.storeDir }),
          stdio: ["ignore", "pipe", "pipe"],
        }),
      );
      let stdout = "";
      let stderr = "";
      child.stdout.on("data", (d: Buffer) => {
        stdout += d.toString();
      });
      child.stderr.on("data", (d: Buffer) => {
        stderr += d.toString();
      });
      const exited = new Promise<number | null>((resolve) => child.on("close", resolve));
      await until("the watcher to start", async () => stderr.includes("watching "));
      writeFileSync(path.join(ws.docs, "two.md"), "# Two\n\nThe second ibex.\n");
      await until("the change to be logged", async () => /watch: 1 added, 0 updated, 1 unchanged/.test(stderr));
      child.kill(signal);
      expect(await exited).toBe(0);
      expect(stdout).toBe("");
      expect(stderr).toMatch(new RegExp(`${signal}: stopping the watch`));
      // The lock file is gone and another writer gets in at once; both files are searchable.
      expect(readdirSync(ws.storeDir).filter((f) => f.includes("lock"))).toEqual([]);
      const search = await runMrag(["search", "ibex", "--mode", "keyword", "--json"], {
        cwd: ws.dir,
        env: { MRAG_STORE: ws.storeDir },
      });
      expect(search.code).toBe(0);
      expect(search.stdout).toMatch(/docs\/two\.md/);
      const ingest = await runMrag(["ingest", "docs"], {
        cwd: ws.dir,
        env: { MRAG_STORE: ws.storeDir, MRAG_LOCK_WAIT_MS: "1000" },
      });
      expect(ingest.stderr).not.toMatch(/busy/);
      expect(ingest.stdout).toMatch(/0 added, 0 updated, 2 unchanged/);
    }
  });

  it("names the missing folder and exits 2", async () => {
    const ws = workspace();
    const r = await runMrag(["watch", "missing"], { cwd: ws.dir, env: { MRAG_STORE: ws.storeDir } });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/no such folder to watch: missing/);
  });
});

describe("mrag serve --watch", () => {
  it("serves MCP on stdio while keeping the folder in sync; stdout carries only protocol messages", async () => {
    const ws = workspace();
    writeFileSync(path.join(ws.docs, "first.md"), "# First\n\nThe heron fishes.\n");
    const stderrChunks: string[] = [];
    const transport = new StdioClientTransport({
      command: process.execPath,
      args: [MRAG_BIN, "serve", "--watch", "docs"],
      cwd: ws.dir,
      env: userEnv({ MRAG_STORE: ws.storeDir, MRAG_WATCH_DEBOUNCE_MS: "100", MRAG_LOG_LEVEL: "info" }),
      stderr: "pipe",
    });
    transport.stderr?.on("data", (d: Buffer) => stderrChunks.push(d.toString()));
    const client = new Client({ name: "watch-test", version: "1.0.0" });
    await client.connect(transport);
    cleanups.push(() => client.close());
    const search = async (query: string) => {
      const result = await client.callTool({ name: "search", arguments: { query, mode: "keyword" } });
      return result.isError ? "" : JSON.stringify(result.structuredContent);
    };
    await until("first.md through MCP", async () => (await search("heron")).includes("docs/first.md"));
    writeFileSync(path.join(ws.docs, "second.md"), "# Second\n\nThe egret wades.\n");
    await until("second.md through MCP", async () => (await search("egret")).includes("docs/second.md"));
    await client.close();
    expect(stderrChunks.join("")).toMatch(/watching .*docs/);
  });

  it("refuses --watch with --read-only, and a folder outside the allowed roots", async () => {
    const ws = workspace();
    const ro = await runMrag(["serve", "--read-only", "--watch", "docs"], {
      cwd: ws.dir,
      env: { MRAG_STORE: ws.storeDir },
      input: "",
    });
    expect(ro.code).toBe(2);
    expect(ro.stderr).toMatch(/--watch writes to the store; it cannot be combined with --read-only/);
    const outside = await runMrag(["serve", "--allow-root", "docs", "--watch", "."], {
      cwd: ws.dir,
      env: { MRAG_STORE: ws.storeDir },
      input: "",
    });
    expect(outside.code).toBe(2);
    expect(outside.stderr).toMatch(/--watch\[0\]/);
  });
});

// Keeps the config key in the schema honest: an explicit debounce loads and a bad one names the key.
describe("ingest.watchDebounceMs", () => {
  it("defaults to 500 and refuses a value below 10", () => {
    expect(loadConfig({ cwd: "/", env: {}, flags: {} }).config.ingest.watchDebounceMs).toBe(500);
    expect(() => loadConfig({ cwd: "/", env: { MRAG_WATCH_DEBOUNCE_MS: "1" }, flags: {} })).toThrow(
      /ingest\.watchDebounceMs/,
    );
  });
});

// runIngest with changedPaths reads only those files; a stored file outside them is not read again.
describe("changedPaths", () => {
  it("re-reads only the named files, still ingests unknown files and still prunes", async () => {
    const ws = workspace();
    const ctx = createContext(ws.config, { cwd: ws.dir, logger: silentLogger });
    cleanups.push(() => ctx.close());
    writeFileSync(path.join(ws.docs, "a.md"), "# A\n\nalpha\n");
    writeFileSync(path.join(ws.docs, "b.md"), "# B\n\nbeta\n");
    await runIngest(ctx, { inputs: [ws.docs], prune: true });
    writeFileSync(path.join(ws.docs, "a.md"), "# A\n\nalpha changed\n");
    writeFileSync(path.join(ws.docs, "b.md"), "# B\n\nbeta changed\n");
    writeFileSync(path.join(ws.docs, "c.md"), "# C\n\ngamma\n");
    const s = await runIngest(ctx, { inputs: [ws.docs], prune: true, changedPaths: [path.join(ws.docs, "a.md")] });
    expect(s.updated).toEqual(["docs/a.md"]);
    expect(s.unchanged).toEqual(["docs/b.md"]);
    expect(s.added).toEqual(["docs/c.md"]);
    rmSync(path.join(ws.docs, "b.md"));
    const pruned = await runIngest(ctx, { inputs: [ws.docs], prune: true, changedPaths: [] });
    expect(pruned.removed).toEqual(["docs/b.md"]);
  });
});
