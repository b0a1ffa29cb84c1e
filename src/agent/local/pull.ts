/**
 * `mrag model pull NAME`: downloads a known GGUF (catalog.ts) from the Hugging Face hub into the models cache,
 * with progress and a sha256 check, resuming nothing and leaving no half file behind (it downloads to
 * `NAME.part` and renames only a verified file). The expected sha256 is the catalog's pin, else the hub's own:
 * the `x-linked-etag` of the file's `resolve` URL, which for an LFS file is its sha256.
 *
 * When the hub cannot be reached, it fails with one line saying where to put the file by hand.
 */
import { createHash } from "node:crypto";
import { createWriteStream, existsSync, mkdirSync, renameSync, rmSync } from "node:fs";
import path from "node:path";
import { LlmError, UsageError } from "../../errors.js";
import { KNOWN_MODELS, type KnownModel, knownModel, knownModelPath } from "./catalog.js";

export const HF_ENDPOINT = "https://huggingface.co";

export interface PullOptions {
  /** Hub base URL (env HF_ENDPOINT; tests use a loopback server). */
  endpoint?: string;
  env?: NodeJS.ProcessEnv;
  /** Called with bytes done and total (0 when unknown). */
  onProgress?: (done: number, total: number) => void;
  signal?: AbortSignal;
  fetchImpl?: typeof fetch;
}

export interface PullResult {
  path: string;
  bytes: number;
  sha256: string;
  /** The file was already there with the right checksum. */
  cached: boolean;
}

const SHA256 = /^[0-9a-f]{64}$/;

function fileUrl(endpoint: string, model: KnownModel): string {
  return `${endpoint.replace(/\/+$/, "")}/${model.repo}/resolve/main/${model.file}`;
}

/** One line for when the hub is unreachable: the URL to fetch by other means, and where the file goes. */
export function offlineMessage(target: string, url: string, why: string): string {
  return `cannot reach the Hugging Face hub (${why}): download ${url} by other means and put it at ${target}, or pass any .gguf with --llm-model /path/to/model.gguf`;
}

async function sha256Of(file: string): Promise<string> {
  const { createReadStream } = await import("node:fs");
  const hash = createHash("sha256");
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  return hash.digest("hex");
}

export async function pullModel(name: string, options: PullOptions = {}): Promise<PullResult> {
  const model = knownModel(name);
  if (!model) {
    throw new UsageError(
      `unknown model "${name}": known models are ${KNOWN_MODELS.map((m) => m.name).join(", ")}; any other .gguf file works with --llm-model /path/to/model.gguf`,
    );
  }
  const env = options.env ?? process.env;
  const endpoint = options.endpoint ?? env.HF_ENDPOINT ?? HF_ENDPOINT;
  const doFetch = options.fetchImpl ?? fetch;
  const target = knownModelPath(model, env);
  const url = fileUrl(endpoint, model);

  let response: Response;
  try {
    response = await doFetch(url, { redirect: "follow", ...(options.signal ? { signal: options.signal } : {}) });
  } catch (error) {
    if (options.signal?.aborted) throw error;
    const cause = (error as { cause?: { code?: string; message?: string } }).cause;
    throw new LlmError(offlineMessage(target, url, cause?.code ?? cause?.message ?? String(error)), {
      cause: error,
    });
  }
  if (!response.ok || !response.body) {
    await response.body?.cancel();
    throw new LlmError(`the hub answered HTTP ${response.status} for ${url}; put the file at ${target} by hand`);
  }
  const hubSha = (response.headers.get("x-linked-etag") ?? response.headers.get("etag") ?? "")
    .replace(/^W\//, "")
    .replace(/"/g, "");
  const expected = model.sha256 ?? (SHA256.test(hubSha) ? hubSha : undefined);
  if (!expected) {
    await response.body.cancel();
    throw new LlmError(
      `the hub sent no sha256 for ${url}, so the download cannot be checked; put a verified file at ${target}`,
    );
  }
  if (existsSync(target) && (await sha256Of(target)) === expected) {
    await response.body.cancel();
    return { path: target, bytes: 0, sha256: expected, cached: true };
  }
  mkdirSync(path.dirname(target), { recursive: true });
  const part = `${target}.part`;
  const total = Number(response.headers.get("content-length") ?? 0);
  const hash = createHash("sha256");
  const out = createWriteStream(part);
  let done = 0;
  try {
    for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
      hash.update(chunk);
      done += chunk.length;
      if (!out.write(chunk)) await new Promise<void>((resolve) => out.once("drain", () => resolve()));
      options.onProgress?.(done, total);
    }
    await new Promise<void>((resolve, reject) =>
      out.end((error?: Error | null) => (error ? reject(error) : resolve())),
    );
  } catch (error) {
    out.destroy();
    rmSync(part, { force: true });
    if (options.signal?.aborted) throw error;
    throw new LlmError(`the download of ${url} broke off after ${done} bytes; run the pull again`, { cause: error });
  }
  const got = hash.digest("hex");
  if (got !== expected) {
    rmSync(part, { force: true });
    throw new LlmError(
      `the download of ${model.file} has sha256 ${got}, expected ${expected}; it was deleted, run the pull again`,
    );
  }
  renameSync(part, target);
  return { path: target, bytes: done, sha256: got, cached: false };
}
