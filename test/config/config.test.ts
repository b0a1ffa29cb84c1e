import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { z } from "zod";
import { CONFIG_KEYS, ConfigSchema, describeConfig, loadConfig } from "../../src/config/index.js";
import { ConfigError } from "../../src/errors.js";

const made: string[] = [];
function tempDir(): string {
  const dir = mkdtempSync(path.join(tmpdir(), "mrag-config-"));
  made.push(dir);
  return dir;
}
afterAll(() => {
  for (const dir of made) rmSync(dir, { recursive: true, force: true });
});

/** Dotted leaf paths of a zod object schema, found by parsing an empty object and walking the result. */
function schemaLeaves(): string[] {
  const json = z.toJSONSchema(ConfigSchema, { io: "input" }) as { properties?: Record<string, unknown> };
  const out: string[] = [];
  const walk = (node: unknown, prefix: string) => {
    const props = (node as { properties?: Record<string, unknown> }).properties;
    if (props && (node as { type?: string }).type === "object") {
      for (const [k, v] of Object.entries(props)) walk(v, prefix ? `${prefix}.${k}` : k);
    } else out.push(prefix);
  };
  walk(json, "");
  return out.sort();
}

describe("config", () => {
  it("declares env/help metadata for exactly the schema's leaves", () => {
    expect(CONFIG_KEYS.map((k) => k.path).sort()).toEqual(schemaLeaves());
    expect(new Set(CONFIG_KEYS.map((k) => k.env)).size).toBe(CONFIG_KEYS.length);
  });

  it("uses defaults when nothing is set", () => {
    const { config, origins } = loadConfig({ env: {}, cwd: tempDir() });
    expect(config.store).toBe("./.mrag/data");
    expect(config.embedder).toBe("builtin");
    // denseWeight unset: the search tool picks it per embedder (denseWeightFor).
    expect(config.search).toEqual({
      k: 8,
      mode: "hybrid",
      rerank: false,
      rerankModel: "hf:Xenova/ms-marco-MiniLM-L-6-v2",
      rerankCandidates: 20,
    });
    expect(origins.store?.origin).toBe("default");
  });

  it("layers flags over env over file over defaults and records origins", () => {
    const cwd = tempDir();
    writeFileSync(
      path.join(cwd, "mrag.config.json"),
      JSON.stringify({ collection: "fromfile", search: { k: 3, mode: "dense" }, store: "./file-store" }),
    );
    const { config, origins, file } = loadConfig({
      cwd,
      env: { MRAG_SEARCH_K: "5", MRAG_STORE: "/env/store", MRAG_INCLUDE: "*.md, docs/**" },
      flags: { store: "/flag/store" },
    });
    expect(file).toBe(path.join(cwd, "mrag.config.json"));
    expect(config.store).toBe("/flag/store");
    expect(config.search.k).toBe(5);
    expect(config.search.mode).toBe("dense");
    expect(config.collection).toBe("fromfile");
    expect(config.ingest.include).toEqual(["*.md", "docs/**"]);
    expect(origins.store?.origin).toBe("flag");
    expect(origins["search.k"]).toEqual({ origin: "env", detail: "MRAG_SEARCH_K" });
    expect(origins["search.mode"]?.origin).toBe("file");
  });

  it("reads .mrag/config.json when there is no mrag.config.json", () => {
    const cwd = tempDir();
    mkdirSync(path.join(cwd, ".mrag"));
    writeFileSync(path.join(cwd, ".mrag", "config.json"), JSON.stringify({ embedder: "openai:nomic-embed-text" }));
    expect(loadConfig({ cwd, env: {} }).config.embedder).toBe("openai:nomic-embed-text");
  });

  it("rejects an invalid env value naming the key, the variable, the value and what is allowed", () => {
    expect(() => loadConfig({ cwd: tempDir(), env: { MRAG_SEARCH_MODE: "fuzzy" } })).toThrowError(
      /search\.mode = "fuzzy" from MRAG_SEARCH_MODE: .*hybrid.*dense.*keyword/,
    );
    expect(() => loadConfig({ cwd: tempDir(), env: { MRAG_SEARCH_K: "lots" } })).toThrowError(
      /search\.k = "lots" from MRAG_SEARCH_K/,
    );
    expect(() => loadConfig({ cwd: tempDir(), env: { MRAG_EMBEDDER: "word2vec" } })).toThrowError(ConfigError);
  });

  it("rejects unknown keys and bad JSON in the file", () => {
    const cwd = tempDir();
    writeFileSync(path.join(cwd, "mrag.config.json"), JSON.stringify({ serch: { k: 3 } }));
    expect(() => loadConfig({ cwd, env: {} })).toThrowError(/unknown key "serch\.k"/);
    writeFileSync(path.join(cwd, "mrag.config.json"), "{ not json");
    expect(() => loadConfig({ cwd, env: {} })).toThrowError(/not valid JSON/);
    expect(() => loadConfig({ cwd, env: {}, configFile: "missing.json" })).toThrowError(/does not exist/);
  });

  it("redacts secrets when describing the config", () => {
    const loaded = loadConfig({ cwd: tempDir(), env: { MRAG_EMBED_API_KEY: "sk-secret-value" } });
    const rows = describeConfig(loaded);
    const row = rows.find((r) => r.key === "embed.openai.apiKey");
    expect(row?.value).toBe("***redacted***");
    expect(JSON.stringify(rows)).not.toContain("sk-secret-value");
  });
});
