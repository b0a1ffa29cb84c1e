import { AsyncLocalStorage } from "node:async_hooks";
import { randomBytes } from "node:crypto";
import { constants as fsConstants, unlinkSync } from "node:fs";
import { link, open, readFile, rename, stat, unlink } from "node:fs/promises";
import { hostname } from "node:os";
import { dirname } from "node:path";
import { StoreBusyError } from "../errors.js";
import { storeFailure } from "./diagnose.js";

/**
 * An inter-process write lock backed by one file created with O_CREAT|O_EXCL.
 *
 * - The file holds JSON naming the holder: pid, hostname, start time and command line.
 * - A lock whose holder is on this host and whose pid is no longer alive is stale and taken over.
 *   A lock from another host is never taken over automatically (we cannot check its pid).
 * - Waiters poll until `waitMs` has passed, then get a StoreBusyError naming the holder.
 * - Re-entrant within one async call chain (AsyncLocalStorage): code running inside `run(fn)` may call
 *   `run` again on the same lock without deadlocking itself. Separate call chains in the same process
 *   queue on the file like separate processes do.
 * - Held locks are removed on normal process exit.
 */

export interface LockOwner {
  pid: number;
  hostname: string;
  /** Epoch milliseconds when the lock was taken. */
  startedAt: number;
  /** The holder's command line, shortened; for messages only. */
  command: string;
}

export interface FileLockOptions {
  /** What the lock protects, for messages (e.g. `the store at /x/.mrag/data`). */
  label: string;
  /** Poll interval while waiting; default 50 ms. */
  pollMs?: number;
  /** An unparseable (half-written) lock file older than this is stale; default 10 s. */
  unreadableStaleMs?: number;
  /** Told once per wait, when a writer starts waiting for another one (so a CLI is not silent for 30 s). */
  onWait?: (message: string) => void;
}

export const DEFAULT_LOCK_WAIT_MS = 30_000;
/** A wait shorter than this passes unannounced: only a wait someone would notice gets a notice. */
const WAIT_NOTICE_MS = 1000;

const heldChains = new AsyncLocalStorage<ReadonlySet<string>>();
/** Lock files this process holds, with their exact content, for release on exit. */
const heldFiles = new Map<string, string>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once("exit", () => {
    for (const path of heldFiles.keys()) {
      try {
        unlinkSync(path);
      } catch {
        // already gone
      }
    }
  });
}

/** Whether `pid` names a live process on this host (EPERM means it exists but is not ours). */
export function isPidAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

function parseOwner(content: string): LockOwner | undefined {
  try {
    const value = JSON.parse(content) as Partial<LockOwner>;
    if (typeof value.pid !== "number" || typeof value.hostname !== "string") return undefined;
    return {
      pid: value.pid,
      hostname: value.hostname,
      startedAt: typeof value.startedAt === "number" ? value.startedAt : 0,
      command: typeof value.command === "string" ? value.command : "",
    };
  } catch {
    return undefined;
  }
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

export class FileLock {
  readonly path: string;
  private readonly label: string;
  private readonly pollMs: number;
  private readonly unreadableStaleMs: number;
  private readonly onWait: ((message: string) => void) | undefined;

  constructor(path: string, options: FileLockOptions) {
    this.path = path;
    this.label = options.label;
    this.onWait = options.onWait;
    this.pollMs = options.pollMs ?? 50;
    this.unreadableStaleMs = options.unreadableStaleMs ?? 10_000;
  }

  /** Whether the current async call chain holds this lock. */
  heldByCurrentChain(): boolean {
    return heldChains.getStore()?.has(this.path) ?? false;
  }

  /** Run `fn` holding the lock; wait up to `waitMs` for it. */
  async run<T>(fn: () => Promise<T>, waitMs: number = DEFAULT_LOCK_WAIT_MS): Promise<T> {
    if (this.heldByCurrentChain()) return fn();
    const content = await this.acquire(waitMs);
    try {
      const chain = new Set(heldChains.getStore() ?? []);
      chain.add(this.path);
      return await heldChains.run(chain, fn);
    } finally {
      await this.release(content);
    }
  }

  /** The current holder, if the lock file exists and is readable. */
  async holder(): Promise<LockOwner | undefined> {
    try {
      return parseOwner(await readFile(this.path, "utf8"));
    } catch {
      return undefined;
    }
  }

  private async acquire(waitMs: number): Promise<string> {
    const deadline = Date.now() + Math.max(0, waitMs);
    const owner: LockOwner = {
      pid: process.pid,
      hostname: hostname(),
      startedAt: Date.now(),
      command: process.argv.slice(1).join(" ").slice(0, 200),
    };
    const content = `${JSON.stringify(owner)}\n`;
    let told = false;
    const waitingSince = Date.now();
    for (;;) {
      if (await this.tryCreate(content)) {
        heldFiles.set(this.path, content);
        installExitHook();
        return content;
      }
      const observed = await this.readRaw();
      if (observed === undefined) continue; // released between our attempt and the read: try again now
      if (await this.isStale(observed)) {
        await this.takeOver(observed);
        continue;
      }
      if (Date.now() >= deadline) throw this.busyError(observed, waitMs);
      if (!told && this.onWait && Date.now() - waitingSince >= WAIT_NOTICE_MS) {
        told = true;
        const holder = parseOwner(observed);
        this.onWait(
          `waiting up to ${Math.round(waitMs / 1000)} s for ${this.label}: ` +
            (holder
              ? `process ${holder.pid}${holder.command ? ` (${holder.command})` : ""} is writing`
              : "another writer"),
        );
      }
      await sleep(this.pollMs / 2 + Math.random() * this.pollMs);
    }
  }

  private async tryCreate(content: string): Promise<boolean> {
    let handle: Awaited<ReturnType<typeof open>> | undefined;
    try {
      handle = await open(this.path, fsConstants.O_CREAT | fsConstants.O_EXCL | fsConstants.O_WRONLY, 0o644);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "EEXIST") return false;
      throw storeFailure("taking the write lock", dirname(this.path), error);
    }
    try {
      await handle.writeFile(content, "utf8");
    } finally {
      await handle.close();
    }
    return true;
  }

  private async readRaw(): Promise<string | undefined> {
    try {
      return await readFile(this.path, "utf8");
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
      throw error;
    }
  }

  private async isStale(content: string): Promise<boolean> {
    const owner = parseOwner(content);
    if (!owner) {
      // Empty or half-written: the holder may be between create and write. Stale only once it is old.
      try {
        const info = await stat(this.path);
        return Date.now() - info.mtimeMs > this.unreadableStaleMs;
      } catch {
        return false;
      }
    }
    return owner.hostname === hostname() && !isPidAlive(owner.pid);
  }

  /**
   * Remove a stale lock without ever removing a live one: move it aside atomically (only one contender
   * wins the rename), check that what we moved is the stale lock we saw, and put it back if it is not.
   */
  private async takeOver(observed: string): Promise<void> {
    const aside = `${this.path}.stale-${process.pid}-${randomBytes(4).toString("hex")}`;
    try {
      await rename(this.path, aside);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "ENOENT") return;
      throw error;
    }
    try {
      const moved = await readFile(aside, "utf8");
      if (moved !== observed) {
        // Someone else took the lock between our read and the rename: restore theirs if nobody replaced it.
        await link(aside, this.path).catch(() => undefined);
      }
    } finally {
      await unlink(aside).catch(() => undefined);
    }
  }

  private async release(content: string): Promise<void> {
    heldFiles.delete(this.path);
    try {
      const current = await readFile(this.path, "utf8");
      if (current === content) await unlink(this.path);
    } catch {
      // already gone
    }
  }

  private busyError(observed: string, waitMs: number): StoreBusyError {
    const owner = parseOwner(observed);
    const waited = `${Math.round(waitMs / 100) / 10} s`;
    if (!owner) {
      return new StoreBusyError(
        `${this.label} is busy: another process is taking its write lock (${this.path}); waited ${waited}. ` +
          "Retry in a moment.",
      );
    }
    const since = owner.startedAt ? ` since ${new Date(owner.startedAt).toISOString()}` : "";
    const what = owner.command ? ` (${owner.command})` : "";
    const local = owner.hostname === hostname();
    return new StoreBusyError(
      `${this.label} is busy: process ${owner.pid} on ${local ? "this host" : `host ${owner.hostname}`}${what} ` +
        `has held its write lock${since}; waited ${waited}. Retry when it has finished. ` +
        `If no mrag process is running${local ? "" : ` on ${owner.hostname}`}, delete ${this.path}.`,
    );
  }
}
