import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openEmbeddedStore } from "../../src/store/embedded/store.js";
import { runStoreContract } from "./contract.js";

runStoreContract(
  "embedded (LanceDB)",
  async () => {
    const dir = await mkdtemp(join(tmpdir(), "mrag-store-contract-"));
    const store = await openEmbeddedStore(join(dir, "data"));
    return { store, cleanup: () => rm(dir, { recursive: true, force: true }) };
  },
  {},
);
