import type { Dirent } from "node:fs";
import { readdir, readFile, realpath, stat } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";
import ignore, { type Ignore } from "ignore";
import { UsageError } from "../errors.js";
import { detectFileType } from "./loaders/filetypes.js";
import { normalizeUrl } from "./loaders/url.js";
import { specialKind } from "./read-file.js";
import { NOT_TAKEN_REASONS, type NotTaken, type NotTakenReason, type SkippedSource } from "./types.js";

export interface DiscoverOptions {
  /** Working directory: relative inputs resolve against it. */
  cwd: string;
  /**
   * Folder source ids are relative to (a real path; see `resolveSourceRoot`). Files outside it, or every file
   * when it is the file-system root, get their absolute path. Default: cwd.
   */
  root?: string;
  /**
   * Gitignore-style patterns (`**\/*.md`, `docs/`, `*.py`) a file must match, tested against its path relative
   * to the folder being walked and against its source id. Default: every type mrag can read.
   */
  include?: string[];
  /** Gitignore-style patterns for files and folders to leave out (same matching as include). */
  exclude?: string[];
  /** Honour .gitignore files (nested ones, and those above the folder up to the repository root). Default true. */
  respectGitignore?: boolean;
  /** Files larger than this are skipped as `too-large`. */
  maxFileBytes: number;
  /**
   * Follow symbolic links inside walked folders. Default false. A link back to an enclosing folder is not
   * followed; a folder reachable under two names is listed under both.
   */
  followSymlinks?: boolean;
  /** Walk dot-files and dot-folders (`.github/`, `.env`). Default false. */
  includeHidden?: boolean;
  /** Absolute folders never entered, e.g. the embedded store's own folder when it sits among the documents. */
  skipFolders?: string[];
}

export interface DiscoveredFile {
  absPath: string;
  /** Source id: POSIX path relative to the root when inside it, else the absolute POSIX path. */
  source: string;
  size: number;
  /**
   * Found by walking a folder (not named by the caller). Walks never follow symlinks, so such a file must still
   * not be one when it is read: a file swapped for a link after the walk could point outside the roots.
   */
  walked: boolean;
}

export interface Discovery {
  /** Files to load, sorted by source id, no duplicates. */
  files: DiscoveredFile[];
  /** Files left out with a reason (too large, unreadable folder, not a regular file). */
  skipped: SkippedSource[];
  /** Files the walks looked at and left out (type, .gitignore, include/exclude, hidden, links), counted. */
  notTaken: NotTaken;
  /** Normalised http(s) URLs, sorted, no duplicates. */
  urls: string[];
  /**
   * One scope per folder input, as a source-id prefix ending in `/` (`docs/`, `/abs/elsewhere/`), or `""` for
   * the working directory itself: sources under a scope that were not found again have disappeared.
   */
  folders: string[];
}

/** Folders never walked into. */
export const ALWAYS_SKIPPED_DIRS: ReadonlySet<string> = new Set([".git", "node_modules", ".mrag"]);

const toPosix = (p: string): string => (path.sep === "\\" ? p.replaceAll("\\", "/") : p);

/**
 * Source id of a file: POSIX path relative to `root` when inside it, else the absolute POSIX path. A root that
 * is the file-system root means absolute ids (`tmp/x.md` would read as a relative path).
 */
export function sourceIdForPath(absPath: string, root: string): string {
  const abs = path.resolve(absPath);
  if (path.parse(root).root === path.resolve(root)) return toPosix(abs);
  const rel = path.relative(root, abs);
  if (rel !== "" && !rel.startsWith("..") && !path.isAbsolute(rel)) return toPosix(rel);
  return toPosix(abs);
}

function scopeForFolder(absDir: string, root: string): string {
  const rel = path.relative(root, absDir);
  if (rel === "" && path.parse(root).root !== path.resolve(root)) return "";
  const id = sourceIdForPath(absDir, root);
  return id.endsWith("/") ? id : `${id}/`;
}

export function isUrlInput(input: string): boolean {
  return /^https?:\/\//i.test(input.trim());
}

/** A folder's real path and its parent's, up to the walk root. */
interface Chain {
  real: string;
  parent: Chain | undefined;
}

function inChain(chain: Chain | undefined, real: string): boolean {
  for (let c = chain; c !== undefined; c = c.parent) if (c.real === real) return true;
  return false;
}

interface IgnoreRules {
  base: string;
  ig: Ignore;
}

/** Gitignore semantics across nested files: the deepest file with a matching rule decides. */
function gitIgnored(rules: readonly IgnoreRules[], absPath: string, isDir: boolean): boolean {
  let ignored = false;
  for (const r of rules) {
    const rel = toPosix(path.relative(r.base, absPath));
    if (rel === "" || rel.startsWith("..") || path.isAbsolute(rel)) continue;
    const t = r.ig.test(isDir ? `${rel}/` : rel);
    if (t.ignored) ignored = true;
    else if (t.unignored) ignored = false;
  }
  return ignored;
}

async function readIgnoreFile(dir: string): Promise<IgnoreRules | undefined> {
  try {
    const content = await readFile(path.join(dir, ".gitignore"), "utf8");
    return { base: dir, ig: ignore().add(content) };
  } catch {
    return undefined;
  }
}

/** .gitignore files above `dir`, up to the enclosing repository root (none when not inside a repository). */
async function ancestorIgnoreRules(dir: string): Promise<IgnoreRules[]> {
  const chain: string[] = [];
  let current = path.dirname(dir);
  let repoRoot: string | undefined;
  if (await exists(path.join(dir, ".git"))) return [];
  for (;;) {
    chain.push(current);
    if (await exists(path.join(current, ".git"))) {
      repoRoot = current;
      break;
    }
    const parent = path.dirname(current);
    if (parent === current) break;
    current = parent;
  }
  if (repoRoot === undefined) return [];
  const rules: IgnoreRules[] = [];
  for (const d of chain.reverse()) {
    const r = await readIgnoreFile(d);
    if (r !== undefined) rules.push(r);
  }
  return rules;
}

async function exists(p: string): Promise<boolean> {
  try {
    await stat(p);
    return true;
  } catch {
    return false;
  }
}

/** Control characters (a newline, a tab, ESC) in a name would break the summary and logs line by line. */
const CONTROL = /\p{Cc}/u;

/** The id with control characters shown as escapes (`a\nb.md`), for a skip entry that prints on one line. */
function printable(source: string): string {
  const named: Record<string, string> = { "\n": "\\n", "\r": "\\r", "\t": "\\t" };
  return source.replace(/\p{Cc}/gu, (c) => named[c] ?? `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);
}

function errorDetail(error: unknown): string {
  const code = (error as NodeJS.ErrnoException).code;
  const message = error instanceof Error ? error.message : String(error);
  return code === undefined ? message : `${code}: ${message}`;
}

/**
 * Expand what the user typed (files, folders, http(s) URLs) into the files to ingest.
 *
 * - A path that does not exist throws UsageError naming it; an empty folder simply yields no files.
 * - Folders are walked without recursion; `.git`, `node_modules` and `.mrag` are never entered, dot-entries
 *   are left out unless includeHidden, symlinks are not followed unless followSymlinks.
 * - Files named explicitly are always taken (no include/exclude/.gitignore/type filtering), except the size cap.
 * - Output is sorted by source id; URLs are normalised and sorted.
 */
export async function discoverFiles(inputs: readonly string[], options: DiscoverOptions): Promise<Discovery> {
  const cwd = path.resolve(options.cwd);
  const root = path.resolve(options.root ?? cwd);
  const respectGitignore = options.respectGitignore ?? true;
  const followSymlinks = options.followSymlinks ?? false;
  const includeHidden = options.includeHidden ?? false;
  const skipFolders = new Set((options.skipFolders ?? []).map((f) => path.resolve(cwd, f)));
  const includeIg =
    options.include !== undefined && options.include.length > 0 ? ignore().add(options.include) : undefined;
  const excludeIg =
    options.exclude !== undefined && options.exclude.length > 0 ? ignore().add(options.exclude) : undefined;
  const files = new Map<string, DiscoveredFile>();
  const skipped = new Map<string, SkippedSource>();
  const urls = new Set<string>();
  const folders = new Set<string>();

  const notTaken: NotTaken = {
    byReason: Object.fromEntries(NOT_TAKEN_REASONS.map((r) => [r, 0])) as Record<NotTakenReason, number>,
    byExtension: {},
  };
  const leaveOut = (reason: NotTakenReason, name?: string) => {
    notTaken.byReason[reason]++;
    if (name !== undefined) {
      const ext = path.extname(name).toLowerCase() || "(none)";
      notTaken.byExtension[ext] = (notTaken.byExtension[ext] ?? 0) + 1;
    }
  };
  const addSkip = (s: SkippedSource) => {
    if (!skipped.has(s.source)) skipped.set(s.source, s);
  };
  const addFile = (absPath: string, size: number, walked: boolean) => {
    const source = sourceIdForPath(absPath, root);
    if (CONTROL.test(source)) {
      addSkip({
        source: printable(source),
        reason: "unsupported",
        detail: "the path holds a control character (a newline?); rename the file",
      });
      return;
    }
    if (size > options.maxFileBytes) {
      addSkip({ source, reason: "too-large", detail: `${size} bytes is over the limit of ${options.maxFileBytes}` });
      return;
    }
    if (!files.has(absPath)) files.set(absPath, { absPath, source, size, walked });
  };
  const matches = (ig: Ignore, relToRoot: string, absPath: string, isDir: boolean): boolean => {
    const suffix = isDir ? "/" : "";
    if (relToRoot !== "" && ig.ignores(relToRoot + suffix)) return true;
    const id = sourceIdForPath(absPath, root);
    return !path.isAbsolute(id) && id !== relToRoot && ig.ignores(id + suffix);
  };

  const walk = async (walkRoot: string) => {
    let baseRules: IgnoreRules[] = [];
    if (respectGitignore) {
      baseRules = await ancestorIgnoreRules(walkRoot);
      // The user named this folder: do not let an outer .gitignore hide all of it.
      if (gitIgnored(baseRules, walkRoot, true)) baseRules = [];
    }
    // Real paths of the folders from the root down, to stop symlink loops (only needed when following links).
    const rootChain: Chain = { real: followSymlinks ? await realpath(walkRoot) : walkRoot, parent: undefined };
    const stack: { dir: string; rules: IgnoreRules[]; chain: Chain }[] = [
      { dir: walkRoot, rules: baseRules, chain: rootChain },
    ];
    while (stack.length > 0) {
      const { dir, rules: inherited, chain } = stack.pop()!;
      let entries: Dirent[];
      try {
        entries = await readdir(dir, { withFileTypes: true });
      } catch (error) {
        addSkip({ source: sourceIdForPath(dir, root), reason: "unreadable", detail: errorDetail(error) });
        continue;
      }
      let rules = inherited;
      if (respectGitignore && entries.some((e) => e.name === ".gitignore" && !e.isDirectory())) {
        const own = await readIgnoreFile(dir);
        if (own !== undefined) rules = [...inherited, own];
      }
      entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
      const candidates: string[] = [];
      const subdirs: { dir: string; chain: Chain }[] = [];
      for (const entry of entries) {
        const name = entry.name;
        if (!includeHidden && name.startsWith(".")) {
          if (!entry.isDirectory() && name !== ".gitignore") leaveOut("hidden");
          continue;
        }
        const abs = path.join(dir, name);
        let isDir = entry.isDirectory();
        let isFile = entry.isFile();
        let real = path.join(chain.real, name);
        if (entry.isSymbolicLink()) {
          if (!followSymlinks) {
            leaveOut("symlink");
            continue;
          }
          try {
            const target = await stat(abs);
            isDir = target.isDirectory();
            isFile = target.isFile();
            real = await realpath(abs);
          } catch {
            continue; // dangling link
          }
        }
        const rel = toPosix(path.relative(walkRoot, abs));
        if (isDir) {
          if (ALWAYS_SKIPPED_DIRS.has(name) || skipFolders.has(abs)) continue;
          if (respectGitignore && gitIgnored(rules, abs, true)) continue;
          if (excludeIg !== undefined && matches(excludeIg, rel, abs, true)) continue;
          if (entry.isSymbolicLink() && inChain(chain, real)) continue; // a link back to an enclosing folder
          subdirs.push({ dir: abs, chain: { real, parent: chain } });
        } else if (isFile) {
          if (respectGitignore && gitIgnored(rules, abs, false)) leaveOut("gitignored");
          else if (excludeIg !== undefined && matches(excludeIg, rel, abs, false)) leaveOut("excluded");
          else if (includeIg !== undefined && !matches(includeIg, rel, abs, false)) leaveOut("not-included");
          else if (includeIg === undefined && detectFileType(abs) === undefined) leaveOut("unsupported-type", name);
          else candidates.push(abs);
        } else if (!entry.isSymbolicLink() || followSymlinks) {
          // A FIFO, socket or device under a name mrag would read: say why it is left out (reading it could
          // block forever or never end).
          if (includeIg !== undefined ? !matches(includeIg, rel, abs, false) : detectFileType(abs) === undefined)
            continue;
          if (excludeIg !== undefined && matches(excludeIg, rel, abs, false)) continue;
          const info = entry.isSymbolicLink() ? await stat(abs).catch(() => undefined) : entry;
          addSkip({
            source: printable(sourceIdForPath(abs, root)),
            reason: "unsupported",
            detail: `${info ? specialKind(info) : "not a regular file"}, not a regular file`,
          });
        }
      }
      const sizes = await Promise.all(
        candidates.map(async (abs) => {
          try {
            return (await stat(abs)).size;
          } catch (error) {
            addSkip({ source: sourceIdForPath(abs, root), reason: "unreadable", detail: errorDetail(error) });
            return undefined;
          }
        }),
      );
      candidates.forEach((abs, i) => {
        const size = sizes[i];
        if (size !== undefined) addFile(abs, size, !followSymlinks);
      });
      for (let i = subdirs.length - 1; i >= 0; i--) stack.push({ ...subdirs[i]!, rules });
    }
  };

  for (const raw of inputs) {
    const input = raw.trim();
    if (input.length === 0) throw new UsageError("an empty path was given");
    if (isUrlInput(input)) {
      urls.add(normalizeUrl(input));
      continue;
    }
    const given = input.startsWith("file://") ? fileURLToPath(input) : path.resolve(cwd, input);
    // The real path: a file reached through a symlinked folder gets the same id as through its target.
    const abs = await realpath(given).catch(() => given);
    let info: Awaited<ReturnType<typeof stat>>;
    try {
      info = await stat(abs);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === "ENOENT" || code === "ENOTDIR") throw new UsageError(`no such file or folder: ${input}`);
      addSkip({ source: sourceIdForPath(abs, root), reason: "unreadable", detail: errorDetail(error) });
      continue;
    }
    if (info.isFile()) {
      addFile(abs, info.size, false);
    } else if (info.isDirectory()) {
      folders.add(scopeForFolder(abs, root));
      await walk(abs);
    } else {
      addSkip({
        source: printable(sourceIdForPath(abs, root)),
        reason: "unsupported",
        detail: `${specialKind(info)}, not a regular file or folder`,
      });
    }
  }

  const byId = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);
  return {
    files: [...files.values()].sort((a, b) => byId(a.source, b.source)),
    skipped: [...skipped.values()].sort((a, b) => byId(a.source, b.source)),
    notTaken,
    urls: [...urls].sort(byId),
    folders: [...folders].sort(byId),
  };
}
