import { createHash } from "node:crypto";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { KNOWN_MODELS, resolveLocalModelPath } from "../../src/agent/local/catalog.js";
import { pullModel } from "../../src/agent/local/pull.js";
import { LlmError, UsageError } from "../../src/errors.js";
import { runMrag } from "../helpers/cli.js";

/**
 * `mrag model pull`: the Hugging Face hub is unreachable here, so a loopback HTTP server plays it (a fault
 * double), serving a small file under the hub's URL layout with the hub's sha256 header, or a wrong one.
 */

const model = KNOWN_MODELS[0];
if (!model) throw new Error("no known model");
const BODY = Buffer.from("GGUF".concat("x".repeat(300_000)));
const SHA = createHash("sha256").update(BODY).digest("hex");

describe("mrag model pull", () => {
  let server: Server;
  let endpoint: string;
  let corrupt = false;
  let dir: string;

  beforeAll(async () => {
    server = createServer((req, res) => {
      if (req.url !== `/${model.repo}/resolve/main/${model.file}`) {
        res.writeHead(404).end();
        return;
      }
      res.writeHead(200, {
        "content-length": String(BODY.length),
        "x-linked-etag": `"${corrupt ? "0".repeat(64) : SHA}"`,
      });
      res.end(BODY);
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    dir = mkdtempSync(path.join(tmpdir(), "mrag-pull-"));
  });

  afterAll(async () => {
    await new Promise<void>((resolve) => server.close(() => resolve()));
    rmSync(dir, { recursive: true, force: true });
  });

  it("downloads into the cache with progress, checks the hub's sha256, and keeps a verified file", async () => {
    const env = { MRAG_MODELS_DIR: path.join(dir, "ok") };
    const progress: number[] = [];
    const first = await pullModel(model.name, { endpoint, env, onProgress: (done) => progress.push(done) });
    expect(first).toEqual({ path: path.join(dir, "ok", model.file), bytes: BODY.length, sha256: SHA, cached: false });
    expect(readFileSync(first.path).equals(BODY)).toBe(true);
    expect(progress.at(-1)).toBe(BODY.length);
    // The preset's model name resolves to that file.
    expect(resolveLocalModelPath(model.name, env)).toBe(first.path);
    const again = await pullModel(model.name, { endpoint, env });
    expect(again.cached).toBe(true);
  });

  it("deletes a download whose checksum does not match", async () => {
    corrupt = true;
    try {
      const env = { MRAG_MODELS_DIR: path.join(dir, "bad") };
      const error = await pullModel(model.name, { endpoint, env }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(LlmError);
      expect((error as Error).message).toMatch(new RegExp(`has sha256 ${SHA}, expected 0{64}; it was deleted`));
      expect(readdirSync(path.join(dir, "bad"))).toEqual([]);
    } finally {
      corrupt = false;
    }
  });

  it("refuses an unknown name, naming the known ones", async () => {
    await expect(pullModel("gpt-5", { endpoint })).rejects.toThrow(UsageError);
    await expect(pullModel("gpt-5", { endpoint })).rejects.toThrow(/known models are gpt-oss-20b/);
  });

  it("offline, the built CLI says in one line where to put the file", async () => {
    // A loopback port nothing listens on: as unreachable as the hub is from here.
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, "127.0.0.1", resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    const cache = path.join(dir, "offline");
    const r = await runMrag(["model", "pull", model.name], {
      cwd: dir,
      env: { MRAG_MODELS_DIR: cache, HF_ENDPOINT: `http://127.0.0.1:${port}` },
    });
    expect(r.code).toBe(1);
    const lines = r.stderr.trim().split("\n");
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(
      /^mrag: cannot reach the Hugging Face hub \(ECONNREFUSED\): download http:\/\/127\.0\.0\.1:\d+\//,
    );
    expect(lines[0]).toContain(`put it at ${path.join(cache, model.file)}`);
    expect(existsSync(path.join(cache, `${model.file}.part`))).toBe(false);
  });
});
