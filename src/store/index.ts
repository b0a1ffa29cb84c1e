import path from "node:path";
import type { MragConfig } from "../config/schema.js";
import { StoreError } from "../errors.js";
import type { Logger } from "../log.js";
import type { Store } from "./types.js";

export type { Collection, Store } from "./types.js";

/** True for store locations that name a Milvus server rather than a folder. */
export function isServerUri(location: string): boolean {
  return /^(https?|grpcs?|tcp):\/\//i.test(location);
}

export interface OpenStoreOptions {
  /** Connection settings for a Milvus URI (`milvus.*` in the config); ignored for a folder. */
  milvus?: MragConfig["milvus"];
  logger?: Logger;
}

/**
 * Open the store named by `--store` / `MRAG_STORE` / `MILVUS_URI`: a folder path selects the embedded store,
 * a URI selects Milvus. Each adapter is loaded only when used, so embedded users never load gRPC.
 */
export async function openStore(location: string, cwd: string, options: OpenStoreOptions = {}): Promise<Store> {
  if (isServerUri(location)) {
    const { openMilvusStore } = await importMilvusAdapter();
    const m = options.milvus;
    return openMilvusStore({
      uri: location,
      ...(m?.token ? { token: m.token } : {}),
      ...(m?.database ? { database: m.database } : {}),
      ...(m?.tlsCaFile ? { tlsCaFile: m.tlsCaFile } : {}),
      ...(m?.tlsServerName ? { tlsServerName: m.tlsServerName } : {}),
      ...(m ? { timeoutMs: m.timeoutMs, maxRetries: m.maxRetries, consistency: m.consistency, fields: m.fields } : {}),
      trace: m?.trace ?? false,
      ...(options.logger ? { logger: options.logger } : {}),
    });
  }
  const { openEmbeddedStore } = await import("./embedded/store.js");
  const logger = options.logger;
  return openEmbeddedStore(path.resolve(cwd, location), logger ? { onLockWait: (m) => logger.warn(m) } : {});
}

/**
 * The Milvus SDK (gRPC, protobuf, parquet and S3 clients: about 60 MB) is an optional dependency, so the
 * default embedded install goes without it. Missing, it is one line saying how to add it.
 */
async function importMilvusAdapter(): Promise<typeof import("./milvus/store.js")> {
  try {
    return await import("./milvus/store.js");
  } catch (err) {
    const e = err as { code?: unknown; message?: unknown } | null;
    if (e?.code === "ERR_MODULE_NOT_FOUND" && String(e.message).includes("@zilliz/milvus2-sdk-node")) {
      throw new StoreError(
        "a Milvus store needs the Milvus SDK, which is not installed; add it with `npm i @zilliz/milvus2-sdk-node` (the embedded store needs nothing)",
        { cause: err },
      );
    }
    throw err;
  }
}
