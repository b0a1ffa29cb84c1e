import path from "node:path";
import { UsageError } from "../errors.js";
import type { Store } from "./types.js";

export type { Collection, Store } from "./types.js";

/** True for store locations that name a Milvus server rather than a folder. */
export function isServerUri(location: string): boolean {
  return /^(https?|grpcs?|tcp):\/\//i.test(location);
}

/**
 * Open the store named by `--store` / `MRAG_STORE`: a folder path selects the embedded store,
 * a URI selects Milvus.
 */
export async function openStore(location: string, cwd: string): Promise<Store> {
  if (isServerUri(location)) {
    throw new UsageError(
      `store ${location} is a server URI, and this build of mrag has no Milvus adapter yet; ` +
        "use a folder path for the embedded store (e.g. --store ./.mrag/data)",
    );
  }
  const { openEmbeddedStore } = await import("./embedded/store.js");
  return openEmbeddedStore(path.resolve(cwd, location));
}
