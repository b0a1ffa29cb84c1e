import { openMilvusStore } from "../../src/store/milvus/store.js";
import { freshDatabase, useMilvusLite } from "../helpers/milvus-lite-suite.js";
import { runStoreContract } from "./contract.js";

// The Milvus adapter through the real SDK against a real Milvus Lite server (one per file, a fresh database
// per test). Milvus standalone, a cluster or Zilliz Cloud run the same contract: `npm run test:milvus`.
const lite = useMilvusLite("store contract: milvus (Milvus Lite)");
if (lite.available) {
  runStoreContract(
    "milvus (Milvus Lite)",
    async () => {
      const { uri } = lite.server();
      const db = await freshDatabase(uri);
      const store = await openMilvusStore({ uri, database: db.database, timeoutMs: 15_000 });
      return { store, cleanup: () => db.cleanup() };
    },
    {},
  );
}
