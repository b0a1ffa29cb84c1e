import { realpath } from "node:fs/promises";
import path from "node:path";
import { UsageError } from "../errors.js";

/**
 * The folders the MCP `ingest` tool may read: `server.allowRoots` (relative to the working directory), or
 * the working directory itself. Returned as real paths so symlinked roots compare correctly.
 *
 * Desktop clients often start servers in `/`; the working directory as an implicit root would then open the
 * whole file system, so in that case no path is allowed until roots are configured (URLs and texts still are).
 */
export async function resolveAllowedRoots(configured: readonly string[], cwd: string): Promise<string[]> {
  if (configured.length === 0) {
    const real = await realpath(cwd).catch(() => path.resolve(cwd));
    if (real === path.parse(real).root) return [];
  }
  const wanted = configured.length > 0 ? configured : [cwd];
  const roots: string[] = [];
  for (const root of wanted) {
    const abs = path.resolve(cwd, root);
    try {
      roots.push(await realpath(abs));
    } catch {
      throw new UsageError(`allowed root ${JSON.stringify(root)} does not exist (${abs}); fix --allow-root`);
    }
  }
  return roots;
}

function isInside(child: string, root: string): boolean {
  const rel = path.relative(root, child);
  return rel === "" || (!rel.startsWith("..") && !path.isAbsolute(rel));
}

/**
 * Check one requested path: no `..` segments, it exists, and its real path (symlinks resolved) lies inside an
 * allowed root. Returns the absolute path; discovery resolves it to the real path the source id comes from.
 */
export async function checkAllowedPath(
  input: string,
  field: string,
  roots: readonly string[],
  cwd: string,
): Promise<string> {
  if (input.includes("\u0000")) throw new UsageError(`${field}: the path contains a NUL character`);
  if (input.split(/[\\/]+/).includes("..")) {
    throw new UsageError(
      `${field}: ".." is not allowed in paths; pass a path inside an allowed root (${roots.join(", ")})`,
    );
  }
  if (roots.length === 0) {
    throw new UsageError(
      `${field}: this server may not read local paths: it runs in ${cwd} and no allowed roots are set; ` +
        "start it with --allow-root DIR (or MRAG_ALLOW_ROOTS=DIR) for the folders to ingest",
    );
  }
  const abs = path.resolve(cwd, input);
  let real: string;
  try {
    real = await realpath(abs);
  } catch {
    throw new UsageError(
      `${field}: no such file or folder ${JSON.stringify(input)} (resolved to ${abs}); relative paths start at ` +
        `the server's working directory, ${cwd}`,
    );
  }
  if (!roots.some((root) => isInside(real, root))) {
    throw new UsageError(
      `${field}: ${JSON.stringify(input)} is outside the allowed roots (${roots.join(", ")}); ` +
        "pass a path inside one, or start the server with --allow-root for that folder",
    );
  }
  return abs;
}
