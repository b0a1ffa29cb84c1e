import { cpSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { loadConfig, type MragConfig } from "../../src/config/index.js";
import { silentLogger } from "../../src/log.js";
import { createContext, type MragContext } from "../../src/tools/context.js";

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
export const FAQ_FIXTURE = path.join(REPO_ROOT, "test/fixtures/milvus-faq");

/** A throw-away working directory with its own store and, optionally, a copy of the milvus-faq fixture. */
export interface Workspace {
  dir: string;
  docs: string;
  storeDir: string;
  config: MragConfig;
  context: MragContext;
  cleanup(): Promise<void>;
}

export function makeWorkspace(options: { copyFaq?: boolean; flags?: Record<string, unknown> } = {}): Workspace {
  const dir = mkdtempSync(path.join(tmpdir(), "mrag-it-"));
  const docs = path.join(dir, "docs");
  if (options.copyFaq ?? true) {
    cpSync(FAQ_FIXTURE, docs, { recursive: true, filter: (src) => !src.endsWith("ATTRIBUTION.md") });
  }
  const storeDir = path.join(dir, "store");
  const { config } = loadConfig({ cwd: dir, env: {}, flags: { store: storeDir, ...options.flags } });
  const context = createContext(config, { cwd: dir, logger: silentLogger });
  return {
    dir,
    docs,
    storeDir,
    config,
    context,
    async cleanup() {
      await context.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
