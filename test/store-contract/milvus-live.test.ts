import { randomBytes } from "node:crypto";
import { MilvusClient } from "@zilliz/milvus2-sdk-node";
import { describe, it } from "vitest";
import { openMilvusStore } from "../../src/store/milvus/store.js";
import { runStoreContract } from "./contract.js";

/**
 * The store contract against a real Milvus: `MILVUS_URI=http://localhost:19530 npm run test:milvus`
 * (`MILVUS_TOKEN` when auth is on). Each test runs in a fresh database that is dropped afterwards.
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
      const database = `mrag_test_${randomBytes(4).toString("hex")}`;
      const admin = new MilvusClient({
        address: uri.replace(/^\w+:\/\//, ""),
        ssl: uri.startsWith("https"),
        ...(token ? { token } : {}),
      });
      await admin.createDatabase({ db_name: database });
      const store = await openMilvusStore({ uri, ...(token ? { token } : {}), database, timeoutMs: 30_000 });
      return {
        store,
        async cleanup() {
          await admin.useDatabase({ db_name: database });
          const shown = await admin.showCollections();
          for (const { name } of shown.data ?? []) await admin.dropCollection({ collection_name: name });
          await admin.dropDatabase({ db_name: database });
          await admin.closeConnection();
        },
      };
    },
    {},
  );
}
