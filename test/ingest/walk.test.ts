import { mkdir, symlink, writeFile } from "node:fs/promises";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { UsageError } from "../../src/errors.js";
import { discoverFiles, sourceIdForPath } from "../../src/ingest/walk.js";
import { FIXTURES, makeTempDir, REPO_ROOT } from "./helpers.js";

let root: string;
let cleanup: () => Promise<void>;

beforeEach(async () => {
  ({ dir: root, cleanup } = await makeTempDir());
});
afterEach(() => cleanup());

async function tree(files: Record<string, string | Buffer>): Promise<void> {
  for (const [rel, content] of Object.entries(files)) {
    const abs = path.join(root, rel);
    await mkdir(path.dirname(abs), { recursive: true });
    await writeFile(abs, content);
  }
}

const base = { maxFileBytes: 1_000_000 };
const sources = (r: { files: { source: string }[] }) => r.files.map((f) => f.source);

describe("discoverFiles", () => {
  it("walks a folder: supported types only, sorted, ids relative to cwd", async () => {
    await tree({
      "docs/b.md": "# B",
      "docs/a.md": "# A",
      "docs/sub/c.ts": "export const c = 1;",
      "docs/image.png": "png",
      "docs/archive.zip": "zip",
      "README.md": "# Readme",
      Makefile: "all:\n\techo",
    });
    const result = await discoverFiles(["."], { cwd: root, ...base });
    expect(sources(result)).toEqual(["Makefile", "README.md", "docs/a.md", "docs/b.md", "docs/sub/c.ts"]);
    expect(result.files[0]!.absPath).toBe(path.join(root, "Makefile"));
    expect(result.skipped).toEqual([]);
    expect(result.urls).toEqual([]);
    expect(result.folders).toEqual([""]);
    const sub = await discoverFiles(["docs"], { cwd: root, ...base });
    expect(sources(sub)).toEqual(["docs/a.md", "docs/b.md", "docs/sub/c.ts"]);
    expect(sub.folders).toEqual(["docs/"]);
  });

  it("never enters skipFolders (the embedded store kept among the documents)", async () => {
    await tree({ "docs/a.md": "# A", "store/meta.json": "{}", "store/t/x.json": "{}", "notes/b.json": "{}" });
    const result = await discoverFiles(["."], { cwd: root, ...base, skipFolders: [path.join(root, "store")] });
    expect(sources(result)).toEqual(["docs/a.md", "notes/b.json"]);
  });

  it("throws a UsageError naming a path that does not exist", async () => {
    await expect(discoverFiles(["no/such/dir"], { cwd: root, ...base })).rejects.toThrow(UsageError);
    await expect(discoverFiles(["no/such/dir"], { cwd: root, ...base })).rejects.toThrow(/no\/such\/dir/);
  });

  it("returns zero files for an empty folder (not an error)", async () => {
    await mkdir(path.join(root, "empty"));
    const result = await discoverFiles(["empty"], { cwd: root, ...base });
    expect(result.files).toEqual([]);
    expect(result.skipped).toEqual([]);
    expect(result.folders).toEqual(["empty/"]);
  });

  it("honours nested .gitignore files, negations, and can be told not to", async () => {
    await tree({
      ".gitignore": "build/\n*.log.md\nsecret.md\n",
      "keep.md": "k",
      "secret.md": "s",
      "debug.log.md": "d",
      "build/out.md": "o",
      "pkg/.gitignore": "generated.md\n!secret.md\n",
      "pkg/generated.md": "g",
      "pkg/secret.md": "re-included by the nested file",
      "pkg/real.md": "r",
      "pkg/deep/generated.md": "g",
    });
    const result = await discoverFiles(["."], { cwd: root, ...base });
    expect(sources(result)).toEqual(["keep.md", "pkg/real.md", "pkg/secret.md"]);
    const all = await discoverFiles(["."], { cwd: root, ...base, respectGitignore: false });
    expect(sources(all)).toEqual([
      "build/out.md",
      "debug.log.md",
      "keep.md",
      "pkg/deep/generated.md",
      "pkg/generated.md",
      "pkg/real.md",
      "pkg/secret.md",
      "secret.md",
    ]);
  });

  it("applies .gitignore files above the folder up to the repository root", async () => {
    await tree({
      ".git/HEAD": "ref: refs/heads/main\n",
      ".gitignore": "*.draft.md\n",
      "docs/guide.md": "g",
      "docs/wip.draft.md": "w",
    });
    expect(sources(await discoverFiles(["docs"], { cwd: root, ...base }))).toEqual(["docs/guide.md"]);
  });

  it("never enters .git, node_modules or .mrag, and skips dot-entries unless asked", async () => {
    await tree({
      ".git/notes.md": "x",
      "node_modules/pkg/readme.md": "x",
      ".mrag/store.json": "{}",
      ".github/workflows/ci.yml": "on: push",
      ".env": "SECRET=1",
      "a/node_modules/b.md": "x",
      "ok.md": "ok",
    });
    expect(sources(await discoverFiles(["."], { cwd: root, ...base }))).toEqual(["ok.md"]);
    const hidden = await discoverFiles(["."], { cwd: root, ...base, includeHidden: true });
    expect(sources(hidden)).toEqual([".github/workflows/ci.yml", "ok.md"]);
  });

  it("filters with include and exclude patterns", async () => {
    await tree({
      "docs/a.md": "a",
      "docs/api/b.md": "b",
      "docs/api/c.txt": "c",
      "src/x.ts": "x",
      "src/x.test.ts": "t",
      "notes.conf": "key = value",
    });
    const md = await discoverFiles(["."], { cwd: root, ...base, include: ["**/*.md"] });
    expect(sources(md)).toEqual(["docs/a.md", "docs/api/b.md"]);
    const noApi = await discoverFiles(["."], { cwd: root, ...base, exclude: ["docs/api/", "*.test.ts"] });
    expect(sources(noApi)).toEqual(["docs/a.md", "src/x.ts"]);
    // An include pattern can take in a type that is not indexed by default.
    const conf = await discoverFiles(["."], { cwd: root, ...base, include: ["*.conf"] });
    expect(sources(conf)).toEqual(["notes.conf"]);
    // Patterns match the path relative to the walked folder or the source id.
    const inDocs = await discoverFiles(["docs"], { cwd: root, ...base, include: ["api/**"] });
    expect(sources(inDocs)).toEqual(["docs/api/b.md", "docs/api/c.txt"]);
    const byId = await discoverFiles(["docs"], { cwd: root, ...base, include: ["docs/api/*.md"] });
    expect(sources(byId)).toEqual(["docs/api/b.md"]);
  });

  it("skips files above maxFileBytes as too-large, naming them", async () => {
    await tree({ "big.md": "x".repeat(5000), "small.md": "ok" });
    const result = await discoverFiles(["."], { cwd: root, maxFileBytes: 1000 });
    expect(sources(result)).toEqual(["small.md"]);
    expect(result.skipped).toEqual([
      { source: "big.md", reason: "too-large", detail: "5000 bytes is over the limit of 1000" },
    ]);
    const explicit = await discoverFiles(["big.md"], { cwd: root, maxFileBytes: 1000 });
    expect(explicit.skipped.map((s) => s.reason)).toEqual(["too-large"]);
  });

  it("takes explicitly named files whatever their type or ignore rules, without duplicates", async () => {
    await tree({ ".gitignore": "ignored.md\n", "ignored.md": "i", "data.bin": "b", "docs/a.md": "a" });
    const result = await discoverFiles(["ignored.md", "data.bin", "docs", "docs/a.md"], { cwd: root, ...base });
    expect(sources(result)).toEqual(["data.bin", "docs/a.md", "ignored.md"]);
  });

  it("separates URLs, normalised and deduplicated", async () => {
    await tree({ "a.md": "a" });
    const result = await discoverFiles(["https://Example.com/docs#x", "a.md", "https://example.com/docs"], {
      cwd: root,
      ...base,
    });
    expect(result.urls).toEqual(["https://example.com/docs"]);
    expect(sources(result)).toEqual(["a.md"]);
    await expect(discoverFiles([""], { cwd: root, ...base })).rejects.toThrow(UsageError);
  });

  it("uses absolute POSIX ids outside cwd", async () => {
    await tree({ "outside/x.md": "x" });
    await mkdir(path.join(root, "work"));
    const result = await discoverFiles([path.join(root, "outside")], { cwd: path.join(root, "work"), ...base });
    expect(sources(result)).toEqual([path.join(root, "outside/x.md").split(path.sep).join("/")]);
    expect(result.folders).toEqual([`${path.join(root, "outside").split(path.sep).join("/")}/`]);
    expect(sourceIdForPath(path.join(root, "work/a/b.md"), path.join(root, "work"))).toBe("a/b.md");
  });

  it("does not follow symlinks unless asked, and survives link loops", async () => {
    await tree({ "real/doc.md": "d", "top.md": "t" });
    await symlink(path.join(root, "real"), path.join(root, "linked"));
    await symlink(path.join(root, "top.md"), path.join(root, "alias.md"));
    await symlink(root, path.join(root, "real/loop"));
    expect(sources(await discoverFiles(["."], { cwd: root, ...base }))).toEqual(["real/doc.md", "top.md"]);
    const followed = await discoverFiles(["."], { cwd: root, ...base, followSymlinks: true });
    // The loop (real/loop -> root) is cut; the same folder under two names is listed under both.
    expect(sources(followed)).toEqual(["alias.md", "linked/doc.md", "real/doc.md", "top.md"]);
  });

  it("finds the four milvus-faq fixtures", async () => {
    const result = await discoverFiles([path.join(FIXTURES, "milvus-faq")], { cwd: REPO_ROOT, ...base });
    expect(sources(result)).toEqual([
      "test/fixtures/milvus-faq/ATTRIBUTION.md",
      "test/fixtures/milvus-faq/operational_faq.md",
      "test/fixtures/milvus-faq/performance_faq.md",
      "test/fixtures/milvus-faq/product_faq.md",
      "test/fixtures/milvus-faq/troubleshooting.md",
    ]);
    const onlyFaq = await discoverFiles(["test/fixtures/milvus-faq"], {
      cwd: REPO_ROOT,
      ...base,
      exclude: ["ATTRIBUTION.md"],
    });
    expect(onlyFaq.files).toHaveLength(4);
  });
});
