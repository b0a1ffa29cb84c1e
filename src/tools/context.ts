import type { MragConfig } from "../config/schema.js";
import { createEmbedder } from "../embed/index.js";
import type { Embedder } from "../embed/types.js";
import { createLogger, type Logger } from "../log.js";
import { openStore } from "../store/index.js";
import type { Collection, Store } from "../store/types.js";

/**
 * What every tool handler needs: config, a store and an embedder, opened lazily and once. The CLI, the
 * MCP server and the agent each build one context and pass it to the same handlers.
 */
export interface MragContext {
  readonly config: MragConfig;
  readonly cwd: string;
  readonly logger: Logger;
  store(): Promise<Store>;
  embedder(): Promise<Embedder>;
  /**
   * The configured collection, checked against the embedder's model id (and dimension once known).
   * Readers (`create: false`) do not load the model: keyword search stays fast.
   */
  collection(options: { create: boolean }): Promise<Collection>;
  close(): Promise<void>;
}

export function createContext(config: MragConfig, options: { cwd?: string; logger?: Logger } = {}): MragContext {
  const cwd = options.cwd ?? process.cwd();
  const logger = options.logger ?? createLogger(config.logLevel);
  let store: Promise<Store> | undefined;
  let embedder: Promise<Embedder> | undefined;
  let unloaded: Promise<Embedder> | undefined;
  const collections = new Map<string, Promise<Collection>>();

  // Created but not initialised: knows its model id (and, for builtin, its dimension) without loading weights.
  const unloadedEmbedder = (): Promise<Embedder> => {
    unloaded ??= createEmbedder(config);
    unloaded.catch(() => {
      unloaded = undefined;
    });
    return unloaded;
  };

  const context: MragContext = {
    config,
    cwd,
    logger,
    store() {
      store ??= openStore(config.store, cwd, { milvus: config.milvus, logger });
      return store;
    },
    embedder() {
      embedder ??= unloadedEmbedder().then(async (e) => {
        await e.init();
        return e;
      });
      // A failed load must not be cached: the next call should try again and report again.
      embedder.catch(() => {
        embedder = undefined;
      });
      return embedder;
    },
    collection({ create }) {
      // A reader's "does not exist" must not stick once a writer has created the collection.
      const cacheKey = String(create);
      let pending = collections.get(cacheKey);
      if (!pending) {
        pending = (async () => {
          // Providers that learn their dimension from the first response (openai:) must be initialised.
          const describe = async () => {
            const e = await unloadedEmbedder();
            return e.dimension > 0 ? e : context.embedder();
          };
          const [s, e] = await Promise.all([context.store(), create ? context.embedder() : describe()]);
          return s.openCollection(config.collection, { modelId: e.modelId, dimension: e.dimension, create });
        })();
        pending.catch(() => collections.delete(cacheKey));
        collections.set(cacheKey, pending);
      }
      return pending;
    },
    async close() {
      const [s, e] = await Promise.allSettled([store, unloaded]);
      if (e?.status === "fulfilled" && e.value) await e.value.close();
      if (s?.status === "fulfilled" && s.value) await s.value.close();
    },
  };
  return context;
}
