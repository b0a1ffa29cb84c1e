import { openMilvusStore } from "../../src/store/milvus/store.js";
import { startMilvusTestServer } from "../milvus-server/index.js";
import { runStoreContract } from "./contract.js";

// The Milvus adapter through the real SDK against the in-process Milvus gRPC test server (one per test, so
// every test starts from an empty server). A real Milvus runs the same contract: `npm run test:milvus`.
runStoreContract(
  "milvus (in-process test server)",
  async () => {
    const server = await startMilvusTestServer();
    const store = await openMilvusStore({ uri: server.uri, timeoutMs: 5000 });
    return { store, cleanup: () => server.close() };
  },
  { atomicReplace: false },
);
