import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, readFile, writeFile } from "node:fs/promises";
import { hostname, tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { StoreBusyError } from "../../src/errors.js";
import { LOCK_FILE } from "../../src/store/embedded/marker.js";
import { openEmbeddedStore } from "../../src/store/embedded/store.js";
import { FileLock, isPidAlive } from "../../src/store/lock.js";
import { readEvents, removeDir, runNode, transpileStoreForChildren, waitFor } from "./embedded-helpers.js";

let build: string;
let dir: string;

beforeAll(async () => {
  build = await transpileStoreForChildren();
  dir = await mkdtemp(join(tmpdir(), "mrag-lock-"));
});
afterAll(async () => {
  await removeDir(build);
  await removeDir(dir);
});

/** A pid that is certainly dead: a child that has already exited. */
function deadPid(): number {
  const child = spawnSync(process.execPath, ["-e", "process.stdout.write(String(process.pid))"], { encoding: "utf8" });
  const pid = Number(child.stdout);
  expect(isPidAlive(pid)).toBe(false);
  return pid;
}

describe("embedded store write lock across processes", () => {
  it("two processes contending both finish, one after the other", async () => {
    const folder = join(dir, "contend");
    const log = join(dir, "contend.log");
    const script = join(build, "lock-child.js");
    const [a, b] = await Promise.all([
      runNode(script, [folder, "A", "700", "30000", log], build),
      runNode(script, [folder, "B", "700", "30000", log], build),
    ]);
    expect(a.stderr).toBe("");
    expect(b.stderr).toBe("");
    expect([a.code, b.code]).toEqual([0, 0]);
    const events = (await readEvents(log)).filter((e) => e.event !== "ready");
    expect(events.map((e) => e.event)).toEqual(["start", "end", "start", "end"]);
    expect(events[0]!.label).toBe(events[1]!.label);
    expect(events[2]!.label).toBe(events[3]!.label);
    expect(events[0]!.label).not.toBe(events[2]!.label);
    expect(events[2]!.t).toBeGreaterThanOrEqual(events[1]!.t);
    expect(existsSync(join(folder, LOCK_FILE))).toBe(false);
  });

  it("a second process with a short wait fails clearly, naming the holder", async () => {
    const folder = join(dir, "busy");
    const log = join(dir, "busy.log");
    const script = join(build, "lock-child.js");
    const holder = runNode(script, [folder, "holder", "4000", "30000", log], build);
    await waitFor(async () => (await readEvents(log)).some((e) => e.label === "holder" && e.event === "start"), 20_000);
    const holderPid = (await readEvents(log)).find((e) => e.label === "holder")!.pid;
    const started = Date.now();
    const second = await runNode(script, [folder, "second", "10", "300", log], build);
    expect(second.code).toBe(3);
    const error = JSON.parse(second.stderr.trim().split("\n").at(-1)!) as { name: string; message: string };
    expect(error.name).toBe("StoreBusyError");
    expect(error.message).toContain(`process ${holderPid}`);
    expect(error.message).toMatch(/busy/);
    expect(error.message).toMatch(/[Rr]etry/);
    expect(error.message).toContain(folder);
    expect(Date.now() - started).toBeLessThan(3900);
    expect((await holder).code).toBe(0);
    expect((await readEvents(log)).some((e) => e.label === "second" && e.event === "start")).toBe(false);
  });

  it("a lock left by a process that died is stale and taken over", async () => {
    const folder = join(dir, "crash");
    const log = join(dir, "crash.log");
    const script = join(build, "lock-child.js");
    const crashed = await runNode(script, [folder, "crasher", "10", "30000", log, "crash"], build);
    expect(crashed.signal).toBe("SIGKILL");
    const lockPath = join(folder, LOCK_FILE);
    expect(existsSync(lockPath)).toBe(true);
    const started = Date.now();
    const next = await runNode(script, [folder, "next", "10", "2000", log], build);
    expect(next.stderr).toBe("");
    expect(next.code).toBe(0);
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(existsSync(lockPath)).toBe(false);
  });
});

describe("embedded store write lock in one process", () => {
  it("concurrent callers queue; nested calls in the same chain do not deadlock; the lock file goes away", async () => {
    const store = await openEmbeddedStore(join(dir, "inproc"));
    const order: string[] = [];
    const task = (name: string) =>
      store.withWriteLock(async () => {
        order.push(`${name}:start`);
        await new Promise((r) => setTimeout(r, 100));
        const inner = await store.withWriteLock(async () => `${name}:inner`, 50);
        order.push(inner);
        order.push(`${name}:end`);
      });
    await Promise.all([task("a"), task("b")]);
    const first = order[0]!.split(":")[0]!;
    const second = first === "a" ? "b" : "a";
    expect(order).toEqual([first, second].flatMap((name) => [`${name}:start`, `${name}:inner`, `${name}:end`]));
    expect(existsSync(join(dir, "inproc", LOCK_FILE))).toBe(false);
    await expect(
      store.withWriteLock(async () => {
        throw new Error("inside");
      }),
    ).rejects.toThrow("inside");
    expect(existsSync(join(dir, "inproc", LOCK_FILE))).toBe(false);
    await store.close();
  });

  it("a live holder makes a second caller wait and then fail with StoreBusyError", async () => {
    const store = await openEmbeddedStore(join(dir, "inproc-busy"));
    let release!: () => void;
    const held = new Promise<void>((r) => {
      release = r;
    });
    const holder = store.withWriteLock(() => held);
    await waitFor(async () => existsSync(join(dir, "inproc-busy", LOCK_FILE)), 5000);
    const other = await openEmbeddedStore(join(dir, "inproc-busy"));
    const error = await other.withWriteLock(async () => "never", 200).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(StoreBusyError);
    expect((error as Error).message).toContain(`process ${process.pid}`);
    release();
    await holder;
    await expect(other.withWriteLock(async () => "now", 1000)).resolves.toBe("now");
    await store.close();
    await other.close();
  });

  it("takes over a stale lock of a dead pid on this host but never one from another host", async () => {
    const folder = join(dir, "stale");
    const store = await openEmbeddedStore(folder);
    await store.withWriteLock(async () => undefined); // creates the folder
    const lockPath = join(folder, LOCK_FILE);
    const stale = { pid: deadPid(), hostname: hostname(), startedAt: Date.now() - 60_000, command: "mrag ingest" };
    await writeFile(lockPath, JSON.stringify(stale));
    await expect(store.withWriteLock(async () => "took over", 1000)).resolves.toBe("took over");
    expect(existsSync(lockPath)).toBe(false);

    const foreign = { pid: 12345, hostname: "some-other-host", startedAt: Date.now(), command: "mrag ingest docs" };
    await writeFile(lockPath, JSON.stringify(foreign));
    const error = await store.withWriteLock(async () => "never", 200).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(StoreBusyError);
    const message = (error as Error).message;
    expect(message).toContain("process 12345 on host some-other-host");
    expect(message).toContain("mrag ingest docs");
    expect(message).toContain(lockPath);
    expect(JSON.parse(await readFile(lockPath, "utf8"))).toEqual(foreign);
    await store.close();
  });

  it("a half-written lock file is only taken over once it is old", async () => {
    const path = join(dir, "half.lock");
    await writeFile(path, "");
    const lock = new FileLock(path, { label: "test lock", unreadableStaleMs: 300, pollMs: 20 });
    const started = Date.now();
    await expect(lock.run(async () => "ok", 5000)).resolves.toBe("ok");
    expect(Date.now() - started).toBeGreaterThanOrEqual(250);
    await writeFile(path, "");
    const strict = new FileLock(path, { label: "test lock", unreadableStaleMs: 60_000, pollMs: 20 });
    await expect(strict.run(async () => "never", 100)).rejects.toBeInstanceOf(StoreBusyError);
  });
});
