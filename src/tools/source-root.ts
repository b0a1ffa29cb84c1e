import { realpath } from "node:fs/promises";
import path from "node:path";
import type { MragConfig } from "../config/schema.js";
import { UsageError } from "../errors.js";
import { isServerUri } from "../store/index.js";

/**
 * The folder file source ids are relative to. It must not depend on the working directory of whoever ingests
 * (a CLI in the notes folder, Claude Desktop starting the server in `/`, an HTTP server elsewhere), so it
 * comes from what every client of one collection must name anyway, the store:
 *
 * - `ingest.sourceRoot` when set (resolved against the working directory);
 * - an embedded store inside a `.mrag` folder (the default `./.mrag/data`): the folder holding `.mrag`, the
 *   project, which is where the CLI ran when it created the store, so existing collections keep their ids;
 * - any other embedded store folder: the folder that contains it;
 * - a Milvus URI: the file-system root, which means absolute paths.
 *
 * Returned as a real path, so a root reached through a symlink gives the same ids as its target.
 */
export async function resolveSourceRoot(config: MragConfig, cwd: string): Promise<string> {
  if (config.ingest.sourceRoot !== undefined) {
    const abs = path.resolve(cwd, config.ingest.sourceRoot);
    try {
      return await realpath(abs);
    } catch {
      throw new UsageError(
        `ingest.sourceRoot ${JSON.stringify(config.ingest.sourceRoot)} does not exist (${abs}); ` +
          "fix MRAG_SOURCE_ROOT or the config file",
      );
    }
  }
  if (isServerUri(config.store)) return path.parse(path.resolve(cwd)).root;
  const store = path.resolve(cwd, config.store);
  const segments = store.split(path.sep);
  const dotMrag = segments.lastIndexOf(".mrag");
  const root = dotMrag > 0 ? segments.slice(0, dotMrag).join(path.sep) || path.sep : path.dirname(store);
  return realpathOfExisting(root);
}

/** Real path of `p`, resolving its nearest existing ancestor when `p` itself does not exist yet. */
export async function realpathOfExisting(p: string): Promise<string> {
  const rest: string[] = [];
  let current = path.resolve(p);
  for (;;) {
    try {
      return path.join(await realpath(current), ...rest.reverse());
    } catch {
      const parent = path.dirname(current);
      if (parent === current) return path.resolve(p);
      rest.push(path.basename(current));
      current = parent;
    }
  }
}
