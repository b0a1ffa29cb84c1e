import { describe, it } from "vitest";
import { openMilvusStore } from "../../src/store/milvus/store.js";
import { freshDatabase } from "../helpers/milvus-lite-suite.js";
import { runStoreContract } from "./contract.js";

/**
 * The store contract against a Milvus you run (standalone, cluster, Zilliz Cloud):
 * `MILVUS_URI=http://localhost:19530 npm run test:milvus` (`MILVUS_TOKEN` when auth is on). Each test runs in a
 * fresh database that is dropped afterwards. Milvus Lite runs the same contract in `npm test` (milvus.test.ts).
 */
const uri = process.env.MILVUS_URI;
const token = process.env.MILVUS_TOKEN;

if (!uri) {
  describe("store contract: milvus (live)", () => {
    it.skip("needs MILVUS_URI (e.g. http://localhost:19530 after `docker compose up -d`)", () => {});
  });
} else {
  runStoreContract(
    `milvus (live, ${uri})`,
    async () => {
      const db = await freshDatabase(uri, token);
      const store = await openMilvusStore({
        uri,
        ...(token ? { token } : {}),
        database: db.database,
        timeoutMs: 30_000,
      });
      return { store, cleanup: () => db.cleanup() };
    },
    {},
  );
}
