import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { describeConfig, loadConfig } from "../../src/config/index.js";
import { ConfigError } from "../../src/errors.js";

const dirs: string[] = [];
function tempDir(): string {
  const dir = mkdtempSync(path.join(tmpdir(), "mrag-milvus-config-"));
  dirs.push(dir);
  return dir;
}
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

describe("Milvus settings", () => {
  it("MILVUS_URI and MILVUS_TOKEN are read when MRAG_STORE / MRAG_MILVUS_TOKEN are unset", () => {
    const { config, origins } = loadConfig({
      cwd: tempDir(),
      env: { MILVUS_URI: "http://milvus.internal:19530", MILVUS_TOKEN: "root:Milvus" },
    });
    expect(config.store).toBe("http://milvus.internal:19530");
    expect(config.milvus.token).toBe("root:Milvus");
    expect(origins.store).toEqual({ origin: "env", detail: "MILVUS_URI" });
  });

  it("MRAG_STORE and flags win over MILVUS_URI", () => {
    const cwd = tempDir();
    const env = { MILVUS_URI: "http://a:19530", MRAG_STORE: "./folder" };
    expect(loadConfig({ cwd, env }).config.store).toBe("./folder");
    expect(loadConfig({ cwd, env, flags: { store: "http://b:19530" } }).config.store).toBe("http://b:19530");
  });

  it("defaults: Strong consistency, 15 s timeout, 3 retries, tracing off, default field names", () => {
    const { config } = loadConfig({ cwd: tempDir(), env: {} });
    expect(config.milvus).toEqual({
      timeoutMs: 15_000,
      maxRetries: 3,
      consistency: "Strong",
      fields: {},
      trace: false,
    });
  });

  it("field names must be Milvus identifiers and keys must be known fields", () => {
    const cwd = tempDir();
    const ok = loadConfig({ cwd, env: { MRAG_MILVUS_FIELDS: '{"text":"content","dense":"embedding"}' } });
    expect(ok.config.milvus.fields).toEqual({ text: "content", dense: "embedding" });
    expect(() => loadConfig({ cwd, env: { MRAG_MILVUS_FIELDS: '{"text":"x\\" or 1==1"}' } })).toThrowError(ConfigError);
    expect(() => loadConfig({ cwd, env: { MRAG_MILVUS_FIELDS: '{"body":"content"}' } })).toThrowError(ConfigError);
  });

  it("the Milvus token is a secret: describing the config redacts it", () => {
    const loaded = loadConfig({ cwd: tempDir(), env: { MILVUS_TOKEN: "user:very-secret-pass" } });
    expect(JSON.stringify(describeConfig(loaded))).not.toContain("very-secret-pass");
  });
});
