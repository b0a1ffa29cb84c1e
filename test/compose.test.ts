import { execFile } from "node:child_process";
import { readFile } from "node:fs/promises";
import path from "node:path";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { REPO_ROOT } from "./helpers/workspace.js";

const run = promisify(execFile);
const COMPOSE_FILE = path.join(REPO_ROOT, "docker-compose.yml");

async function hasDockerCompose(): Promise<boolean> {
  try {
    await run("docker-compose", ["version", "--short"]);
    return true;
  } catch {
    return false;
  }
}

/** `docker-compose config` with the given profiles: the file as Compose resolves it (JSON-ish YAML). */
async function resolved(profiles: string[], env: Record<string, string> = {}): Promise<string> {
  const args = ["-f", COMPOSE_FILE, ...profiles.flatMap((p) => ["--profile", p]), "config"];
  const { stdout } = await run("docker-compose", args, { env: { ...process.env, ...env }, cwd: REPO_ROOT });
  return stdout;
}

// CI installs docker-compose (.ci/run); elsewhere the check is skipped rather than failing for a missing tool.
const available = await hasDockerCompose();
if (!available && process.env.CI) throw new Error("CI must have docker-compose to validate docker-compose.yml");

describe.skipIf(!available)("docker-compose.yml", () => {
  it("is valid with no profile, and with the gpt-oss and app profiles", async () => {
    const base = await resolved([]);
    for (const service of ["etcd:", "minio:", "milvus:"]) expect(base).toContain(`  ${service}`);
    const all = await resolved(["gpt-oss", "app"], { MRAG_HTTP_TOKEN: "0123456789abcdef0123" });
    for (const service of ["ollama:", "app:"]) expect(all).toContain(`  ${service}`);
    expect(all).toContain("gpt-oss:20b");
    expect(all).toContain("MRAG_STORE: http://milvus:19530");
  });

  it("pins every image, health-checks every service and keeps data in named volumes", async () => {
    const text = await readFile(COMPOSE_FILE, "utf8");
    const images = [...text.matchAll(/^\s+image:\s*(\S+)/gm)].map((m) => m[1]!);
    expect(images.length).toBe(5);
    for (const image of images) {
      expect(image, image).toMatch(/:[^:]+$/);
      expect(image, image).not.toMatch(/:latest$/);
    }
    expect(images).toContain("milvusdb/milvus:v2.6.17");
    expect([...text.matchAll(/^\s+healthcheck:/gm)].length).toBe(5);
    for (const volume of ["etcd-data", "minio-data", "milvus-data", "ollama-models"]) {
      expect(text).toMatch(new RegExp(`^  ${volume}:`, "m"));
    }
    // Nothing listens beyond loopback on the host.
    for (const m of text.matchAll(/^\s+- "(\S+)"$/gm)) {
      if (/^\d+\.\d+\.\d+\.\d+:\d+:\d+$|^\d+:\d+$/.test(m[1]!)) expect(m[1]).toMatch(/^127\.0\.0\.1:/);
    }
  });
});
