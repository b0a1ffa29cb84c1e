/**
 * mrag as a user gets it: `npm pack`, then `npm i ./mrag-<version>.tgz` in an empty folder (npm cache first,
 * the registry only for what the cache lacks; no install script, no download outside npm), then the library
 * API from a strict NodeNext TypeScript program and the CLI through `npx`. Needs dist/ built (`npm run build`).
 */
import { spawn } from "node:child_process";
import { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  type RecordedRequest,
  type ScriptedServer,
  type ScriptedTurn,
  startScriptedServer,
} from "../agent/scripted-server.js";
import { passagesIn } from "../helpers/agent.js";
import { FAQ_FIXTURE, REPO_ROOT } from "../helpers/workspace.js";

/**
 * The default install was 789 MB with transformers.js and ONNX Runtime, 257 MB with the `openai` SDK (20 MB; the
 * LLM and embeddings clients are on plain fetch now, src/openai-wire.ts), 238 MB today (measured here with
 * `du -sk`). LanceDB 0.31.0 is 159 MB of it (its native binary 155 MB), plus its optional openai 4 (about 15 MB
 * with its polyfills, unused by mrag). Issue 15's bound is 250; this catches any heavy dependency coming back.
 */
const MAX_NODE_MODULES_MB = 250;

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
  ms: number;
}

/** This environment without npm's per-run settings (vitest may run under `npm test`) or MRAG_* values. */
function cleanEnv(): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (v === undefined || /^(npm_|MRAG_|ONNXRUNTIME_)/i.test(k)) continue;
    env[k] = v;
  }
  return { ...env, npm_config_fund: "false", npm_config_audit: "false", npm_config_update_notifier: "false" };
}

function run(cmd: string, args: string[], cwd: string): Promise<Run> {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd, env: cleanEnv(), stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => {
      stdout += d.toString();
    });
    child.stderr.on("data", (d: Buffer) => {
      stderr += d.toString();
    });
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, stdout, stderr, ms: performance.now() - started }));
  });
}

function ok(r: Run, what: string): Run {
  if (r.code !== 0) throw new Error(`${what} exited ${r.code}\n${r.stdout}\n${r.stderr}`);
  return r;
}

/** Installed version of a repo dependency (so the consumer's extra installs come from the npm cache). */
function repoVersion(pkg: string): string {
  const file = path.join(REPO_ROOT, "node_modules", pkg, "package.json");
  return (JSON.parse(readFileSync(file, "utf8")) as { version: string }).version;
}

let dir: string;
let app: string;
let install: Run;
let nodeModulesMb: number;
let llm: ScriptedServer;

/** One search, then an answer citing the first passage: enough to see the agent run through the library. */
function scriptedTurn(request: RecordedRequest, i: number): ScriptedTurn {
  if (i === 0) return { toolCalls: [{ name: "search", arguments: { query: "where does milvus store data" } }] };
  const first = passagesIn(request)[0];
  if (!first) throw new Error("the agent sent no passages");
  const citation = { id: String(first.n), source: first.source, quote: first.text.slice(0, 40) };
  return {
    toolCalls: [
      {
        name: "final_answer",
        arguments: {
          answer: "Milvus keeps data in object storage [1].",
          citations: [citation],
          confidence: "high",
          unanswerable: false,
        },
      },
    ],
  };
}

beforeAll(async () => {
  for (const built of ["dist/src/index.js", "dist/src/index.d.ts", "dist/src/cli/main.js"]) {
    if (!existsSync(path.join(REPO_ROOT, built))) throw new Error(`${built} is missing: run \`npm run build\` first`);
  }
  dir = mkdtempSync(path.join(tmpdir(), "mrag-package-"));
  const packed = ok(
    await run("npm", ["pack", "--ignore-scripts", "--json", "--pack-destination", dir], REPO_ROOT),
    "npm pack",
  );
  const tarball = path.join(dir, (JSON.parse(packed.stdout) as { filename: string }[])[0]!.filename);
  app = path.join(dir, "app");
  cpSync(FAQ_FIXTURE, path.join(app, "docs"), { recursive: true, filter: (s) => !s.endsWith("ATTRIBUTION.md") });
  writeFileSync(
    path.join(app, "package.json"),
    `${JSON.stringify({ name: "mrag-consumer", private: true, type: "module" }, null, 2)}\n`,
  );
  install = ok(await run("npm", ["install", tarball, "--prefer-offline", "--no-audit", "--no-fund"], app), "npm i");
  const du = ok(await run("du", ["-sk", "node_modules"], app), "du");
  nodeModulesMb = Number(du.stdout.split(/\s/)[0]) / 1024;
  process.stderr.write(
    `[package] npm i ${path.basename(tarball)}: ${(install.ms / 1000).toFixed(1)} s, node_modules ${nodeModulesMb.toFixed(0)} MB\n`,
  );
  llm = await startScriptedServer({ profile: "vllm", turns: scriptedTurn });
}, 600_000);

afterAll(async () => {
  await llm?.close();
  if (dir) rmSync(dir, { recursive: true, force: true, maxRetries: 5 });
});

describe("the packed package installed into an empty folder", () => {
  it(`installs without transformers.js, ONNX Runtime or the Milvus SDK, in under ${MAX_NODE_MODULES_MB} MB, with no engine warnings`, () => {
    const output = install.stdout + install.stderr;
    expect(output).not.toMatch(/EBADENGINE/);
    const top = readdirSync(path.join(app, "node_modules"));
    expect(top).toContain("mrag");
    for (const absent of ["onnxruntime-node", "onnxruntime-web", "sharp"]) expect(top).not.toContain(absent);
    // mrag itself does not use the openai SDK (LanceDB's optional openai 4 may sit at the top instead).
    const openai = path.join(app, "node_modules/openai/package.json");
    if (existsSync(openai))
      expect((JSON.parse(readFileSync(openai, "utf8")) as { version: string }).version).toMatch(/^4\./);
    expect(existsSync(path.join(app, "node_modules/@huggingface/transformers"))).toBe(false);
    expect(existsSync(path.join(app, "node_modules/@zilliz/milvus2-sdk-node"))).toBe(false);
    expect(nodeModulesMb).toBeGreaterThan(50);
    expect(nodeModulesMb).toBeLessThan(MAX_NODE_MODULES_MB);
    // Ships declarations and no source maps pointing at sources it does not ship.
    const pkg = path.join(app, "node_modules/mrag");
    expect(existsSync(path.join(pkg, "dist/src/index.d.ts"))).toBe(true);
    const maps = readdirSync(path.join(pkg, "dist/src"), { recursive: true }).filter((f) => String(f).endsWith(".map"));
    expect(maps).toEqual([]);
  });

  it("compiles a strict NodeNext TypeScript program against the shipped types and runs it (ingest, search, read, MCP, agent)", async () => {
    ok(
      await run(
        "npm",
        [
          "install",
          "--prefer-offline",
          "--no-audit",
          "--no-fund",
          `typescript@${repoVersion("typescript")}`,
          `@types/node@${repoVersion("@types/node")}`,
          `@modelcontextprotocol/sdk@${repoVersion("@modelcontextprotocol/sdk")}`,
        ],
        app,
      ),
      "npm i typescript",
    );
    cpSync(path.join(REPO_ROOT, "test/package/consumer-app.mts"), path.join(app, "app.mts"));
    const tsc = await run(
      process.execPath,
      [
        "node_modules/typescript/bin/tsc",
        "--strict",
        "--module",
        "NodeNext",
        "--moduleResolution",
        "NodeNext",
        "--target",
        "ES2022",
        "--types",
        "node",
        "--noUncheckedIndexedAccess",
        "app.mts",
      ],
      app,
    );
    expect(tsc.stdout + tsc.stderr).toBe("");
    expect(tsc.code).toBe(0);
    const result = ok(await run(process.execPath, ["app.mjs", "docs", "kb", llm.url], app), "node app.mjs");
    const seen = JSON.parse(result.stdout.trim()) as Record<string, unknown>;
    expect(seen.added).toBe(4);
    // Source ids of a folder ingested from the app's folder (docs/product_faq.md today; issue 15 may root them).
    expect(seen.topSource).toMatch(/(^|\/)product_faq\.md$/);
    expect(String(seen.topHeading)).toMatch(/Where does Milvus store data\?/);
    expect(String(seen.readText)).toMatch(/Milvus/);
    expect((seen.sources as string[]).map((s) => path.basename(s))).toEqual([
      "operational_faq.md",
      "performance_faq.md",
      "product_faq.md",
      "troubleshooting.md",
    ]);
    expect(seen.chunks).toBeGreaterThan(50);
    expect(String(seen.refused)).toMatch(/query/);
    expect(seen.memoryTools).toEqual(expect.arrayContaining(["search", "read", "list_sources", "status", "ingest"]));
    expect(seen.httpIsError).toBe(false);
    expect(seen.answer).toBe("Milvus keeps data in object storage [1].");
    expect(seen.stopReason).toBe("answered");
    expect(llm.problems).toEqual([]);
  }, 300_000);

  it("runs the CLI through npx: ingest, then search finds the FAQ answer", async () => {
    const ingest = ok(await run("npx", ["--no", "mrag", "ingest", "docs", "--store", "cli-kb"], app), "mrag ingest");
    expect(ingest.stderr).not.toMatch(/npm warn/i);
    const search = ok(
      await run("npx", ["--no", "mrag", "search", "How is data stored in milvus?", "--store", "cli-kb", "--json"], app),
      "mrag search",
    );
    const out = JSON.parse(search.stdout) as { hits: { source: string; heading?: string }[] };
    expect(out.hits[0]?.source).toMatch(/(^|\/)product_faq\.md$/);
    expect(out.hits[0]?.heading).toMatch(/Where does Milvus store data\?/);
  }, 180_000);

  it("says in one line how to add transformers.js for hf: models and the SDK for Milvus", async () => {
    const hf = await run(
      "npx",
      ["--no", "mrag", "ingest", "docs", "--store", "hf-kb", "--embedder", "hf:Xenova/bge-small-en-v1.5"],
      app,
    );
    expect(hf.code).not.toBe(0);
    expect(hf.stderr).toMatch(/npm i @huggingface\/transformers/);
    expect(hf.stderr).not.toMatch(/\n\s+at /);
    const milvus = await run("npx", ["--no", "mrag", "search", "milvus", "--store", "http://127.0.0.1:9"], app);
    expect(milvus.code).not.toBe(0);
    expect(milvus.stderr).toMatch(/npm i @zilliz\/milvus2-sdk-node/);
    expect(milvus.stderr).not.toMatch(/\n\s+at /);
  }, 180_000);

  it("prints no npm config warnings for npx mrag in the repo", async () => {
    const version = ok(await run("npx", ["--no", "mrag", "--version"], REPO_ROOT), "npx mrag --version");
    expect(version.stdout.trim()).toMatch(/^\d+\.\d+\.\d+/);
    expect(version.stderr).not.toMatch(/Unknown (project|user|env) config/);
  });
});
