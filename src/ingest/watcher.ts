import { type Dirent, type FSWatcher, watch } from "node:fs";
import { readdir, stat } from "node:fs/promises";
import path from "node:path";
import { ALWAYS_SKIPPED_DIRS } from "./walk.js";

export interface FolderWatcherOptions {
  /** Quiet time after the last event before a batch is handed over (editor saves come as several events). */
  debounceMs: number;
  /** A batch is handed over at the latest this long after its first event, even if events keep coming. */
  maxWaitMs?: number;
  /** Folders never watched (the embedded store's folder); the walk never enters them either. */
  skipFolders?: readonly string[];
  /** Watch dot-folders too (the ingest walk leaves them out by default). */
  includeHidden?: boolean;
  /** Absolute paths (files or folders) that changed since the last batch; called one batch at a time. */
  onBatch: (changed: string[]) => Promise<void>;
  onError: (message: string) => void;
}

export interface FolderWatcher {
  /** Stop watching, wait for the batch in progress (if any); pending events are dropped. */
  close(): Promise<void>;
  /** Resolves when no batch is pending or running (tests, and shutdown). */
  idle(): Promise<void>;
}

/**
 * Watch folders for changes and hand the changed paths over in debounced batches, never two at once.
 *
 * Node 20's recursive `fs.watch` on Linux opens one inotify watch per file and per folder, `.git` and
 * `node_modules` included, with synchronous stats in its callbacks; here Linux gets one non-recursive watch per
 * folder the ingest walk would enter (a folder's watch reports its children), added as folders appear. macOS and
 * Windows have a native recursive watch, used as it is. A folder that appears is reported as a whole, so files
 * written into it before its watch was attached are not missed.
 */
export async function watchFolders(roots: readonly string[], options: FolderWatcherOptions): Promise<FolderWatcher> {
  const native = process.platform === "darwin" || process.platform === "win32";
  const skip = new Set((options.skipFolders ?? []).map((f) => path.resolve(f)));
  /** Folder -> its watch and the inode it was opened on (a folder deleted and made again needs a new watch). */
  const watchers = new Map<string, { watcher: FSWatcher; ino: number }>();
  let pending = new Set<string>();
  let timer: NodeJS.Timeout | undefined;
  let firstEventAt = 0;
  let running: Promise<void> | undefined;
  let closed = false;
  let idleWaiters: (() => void)[] = [];

  const skippedName = (name: string) =>
    ALWAYS_SKIPPED_DIRS.has(name) || (!options.includeHidden && name.startsWith("."));
  const skippedPath = (abs: string, root: string) => {
    if (skip.has(abs)) return true;
    const rel = path.relative(root, abs);
    // A hidden file's change matters only as `.gitignore` (its rules decide what the walk takes).
    return rel
      .split(path.sep)
      .some((segment, i, all) => skippedName(segment) && !(i === all.length - 1 && segment === ".gitignore"));
  };

  const settle = () => {
    if (running || timer || pending.size > 0) return;
    const waiters = idleWaiters;
    idleWaiters = [];
    for (const w of waiters) w();
  };

  const runBatch = () => {
    timer = undefined;
    if (closed || running || pending.size === 0) return settle();
    const batch = [...pending];
    pending = new Set();
    running = options
      .onBatch(batch)
      .catch((error: unknown) => {
        if (closed) return; // cancelled by shutdown
        options.onError(error instanceof Error ? error.message : String(error));
        // Not lost: the paths go back into the next batch (a busy store, say).
        for (const p of batch) pending.add(p);
      })
      .finally(() => {
        running = undefined;
        if (pending.size > 0 && !closed) schedule();
        else settle();
      });
  };

  const schedule = () => {
    if (closed) return;
    const now = Date.now();
    if (!timer) firstEventAt = now;
    if (timer) clearTimeout(timer);
    const maxWait = options.maxWaitMs ?? Math.max(options.debounceMs * 10, 5000);
    const delay = Math.max(0, Math.min(options.debounceMs, firstEventAt + maxWait - now));
    // A batch in progress: the next one starts when it ends (runBatch returns early and `finally` reschedules).
    timer = setTimeout(runBatch, delay);
  };

  const changed = (abs: string, root: string) => {
    if (closed || skippedPath(abs, root)) return;
    pending.add(abs);
    schedule();
    if (!native) void rewatch(abs, root);
  };

  const unwatch = (dir: string) => {
    for (const [watched, { watcher }] of watchers) {
      if (watched === dir || watched.startsWith(dir + path.sep)) {
        watcher.close();
        watchers.delete(watched);
      }
    }
  };

  /** After an event on `abs`: drop watches of a folder that is gone or was replaced, watch what is new. */
  const rewatch = async (abs: string, root: string) => {
    const known = watchers.get(abs);
    if (known) {
      const now = await stat(abs).catch(() => undefined);
      if (now?.isDirectory() && now.ino === known.ino) return;
      unwatch(abs);
    }
    await watchTree(abs, root);
  };

  const watchDir = (dir: string, ino: number, root: string): boolean => {
    if (watchers.has(dir) || closed) return false;
    let watcher: FSWatcher;
    try {
      watcher = watch(dir, { persistent: true }, (_event, name) => {
        if (name === null) changed(dir, root);
        else changed(path.join(dir, name.toString()), root);
      });
    } catch {
      return false; // gone already, or not a folder: its parent's event covers it
    }
    watcher.on("error", () => {
      // The folder went away (its parent reports that); forget the handle.
      watcher.close();
      if (watchers.get(dir)?.watcher === watcher) watchers.delete(dir);
    });
    watchers.set(dir, { watcher, ino });
    return true;
  };

  /** Watch `dir` and the folders under it that the walk would enter (no-op for a file or a missing path). */
  const watchTree = async (dir: string, root: string): Promise<void> => {
    const stack = [dir];
    while (stack.length > 0 && !closed) {
      const current = stack.pop() as string;
      if (watchers.has(current)) continue;
      let entries: Dirent[];
      let ino: number;
      try {
        ino = (await stat(current)).ino;
        entries = await readdir(current, { withFileTypes: true });
      } catch {
        continue; // a file, or gone already
      }
      if (!watchDir(current, ino, root)) continue;
      for (const entry of entries) {
        const abs = path.join(current, entry.name);
        if (entry.isDirectory() && !skippedPath(abs, root)) stack.push(abs);
      }
    }
  };

  for (const root of roots) {
    if (native) {
      const watcher = watch(root, { persistent: true, recursive: true }, (_event, name) => {
        changed(name === null ? root : path.join(root, name.toString()), root);
      });
      watcher.on("error", (error) => options.onError(`${root}: ${error.message}`));
      watchers.set(root, { watcher, ino: 0 });
    } else await watchTree(root, root);
  }

  return {
    async close() {
      closed = true;
      if (timer) clearTimeout(timer);
      timer = undefined;
      for (const { watcher } of watchers.values()) watcher.close();
      watchers.clear();
      pending.clear();
      await running;
      settle();
    },
    idle() {
      if (!running && !timer && pending.size === 0) return Promise.resolve();
      return new Promise((resolve) => idleWaiters.push(resolve));
    },
  };
}
