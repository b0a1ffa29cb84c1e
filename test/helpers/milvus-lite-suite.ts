import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { MilvusClient } from "@zilliz/milvus2-sdk-node";
import { afterAll, beforeAll, describe, it } from "vitest";
import { type MilvusLiteServer, startMilvusLite } from "./milvus-lite.js";

/**
 * One real Milvus Lite server per test file (started in beforeAll, stopped in afterAll), with a fresh
 * database per test. Without python3 the file reports one test named "SKIPPED: …" and warns on stderr; in CI
 * (`CI=true`) a missing python3 fails instead, as does a venv or server that cannot start anywhere.
 */
export interface MilvusLiteSuite {
  /** False when python3 is missing outside CI: register no tests that need the server. */
  readonly available: boolean;
  /** The running server (valid inside tests and hooks). */
  server(): MilvusLiteServer;
}

function pythonFound(): boolean {
  const python = process.env.PYTHON ?? "python3";
  return spawnSync(python, ["--version"], { stdio: "ignore" }).status === 0;
}

const INSTALL_HINT =
  "install Python 3.10+ with pip (Debian: apt-get install python3 python3-venv), then `bash scripts/python-env.sh`";

export function useMilvusLite(label: string): MilvusLiteSuite {
  if (!pythonFound()) {
    const why = `python3 not found; ${INSTALL_HINT}`;
    const ci = process.env.CI;
    if (ci !== undefined && ci !== "" && ci !== "false" && ci !== "0") {
      describe(label, () => {
        it("Milvus Lite is available (required in CI)", () => {
          throw new Error(`the live Milvus Lite suite cannot run in CI: ${why}`);
        });
      });
    } else {
      describe(label, () => {
        it(`SKIPPED: live Milvus Lite suite — ${why}`, () => {
          console.warn(`\n*** SKIPPED: ${label} on Milvus Lite — ${why} ***\n`);
        });
      });
    }
    return {
      available: false,
      server() {
        throw new Error("Milvus Lite is not available");
      },
    };
  }
  let running: MilvusLiteServer | undefined;
  // The first run on a machine also creates the venv (pip install of the pinned packages): allow for it.
  beforeAll(async () => {
    running = await startMilvusLite();
  }, 600_000);
  afterAll(async () => {
    await running?.stop();
  });
  return {
    available: true,
    server() {
      if (!running) throw new Error("Milvus Lite has not started (see the beforeAll error)");
      return running;
    },
  };
}

/** An SDK client for test set-up and checks (not the adapter under test). */
export function adminClient(uri: string, token?: string, database?: string): MilvusClient {
  const client = new MilvusClient({
    address: uri.replace(/^\w+:\/\//, ""),
    ssl: uri.startsWith("https"),
    ...(token ? { token } : {}),
    ...(database ? { database } : {}),
  });
  client.connectPromise.catch(() => undefined);
  return client;
}

/** A new, empty database and the cleanup that drops it with everything in it. */
export async function freshDatabase(
  uri: string,
  token?: string,
): Promise<{ database: string; cleanup(): Promise<void> }> {
  const database = `mrag_test_${randomBytes(4).toString("hex")}`;
  const admin = adminClient(uri, token);
  const created = await admin.createDatabase({ db_name: database });
  if (created.error_code !== "Success" && created.code !== 0) {
    throw new Error(`creating database ${database} failed: ${created.reason}`);
  }
  return {
    database,
    async cleanup() {
      await admin.useDatabase({ db_name: database });
      const shown = await admin.showCollections();
      for (const { name } of shown.data ?? []) await admin.dropCollection({ collection_name: name });
      await admin.dropDatabase({ db_name: database });
      await admin.closeConnection();
    },
  };
}
