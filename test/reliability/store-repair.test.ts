import { appendFileSync, mkdtempSync, readdirSync, rmSync, truncateSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runMrag } from "../helpers/cli.js";
import { answers, ingest, largestDataFile, workspace as makeWorkspace, sources, tableDir } from "./repair-helpers.js";

/**
 * A re-ingest repairs a damaged embedded store (issue 18, item 3), through the built CLI on real LanceDB files
 * damaged after an ingest: a truncated data file (the rows that still read are kept, the rest comes back from
 * the documents), unreadable newest manifests (the newest readable version is restored and the ingest puts back
 * what changed since), and no readable manifest at all (the table starts again from the documents). After each
 * repair, searches answer exactly as on a store that was never damaged.
 */

const CHANGE = "\n\n## Quokka errors\n\nA quokka error means the quokka service was restarted during a flush.\n";

let root: string;
const workspace = (name: string) => makeWorkspace(root, name);

const versionsDir = (dir: string) => path.join(tableDir(dir), "_versions");
const manifests = (dir: string) => readdirSync(versionsDir(dir)).filter((f) => f.endsWith(".manifest"));

beforeAll(() => {
  root = mkdtempSync(path.join(tmpdir(), "mrag-repair-"));
});

afterAll(() => {
  rmSync(root, { recursive: true, force: true });
});

describe("a re-ingest repairs a damaged embedded store", () => {
  it("a truncated data file: the rows that read are kept, the rest is re-ingested, searches as on a clean store", async () => {
    const clean = workspace("clean-a");
    await ingest(clean, "docs");
    await ingest(clean, "extra");
    const dir = workspace("truncated");
    await ingest(dir, "docs");
    await ingest(dir, "extra");
    // The FAQ's fragment is the large file; the note's one-chunk fragment stays whole.
    truncateSync(largestDataFile(dir), 1000);
    const broken = await runMrag(["search", "vector index"], { cwd: dir });
    expect(broken.code).toBe(1);
    expect(broken.stderr).toMatch(/is damaged .*ingest your documents again to repair it/);

    // Only docs/ is ingested again: the note, which this ingest does not cover, is kept from the damaged store.
    const summary = await ingest(dir, "docs");
    const line = summary.split("\n").find((l) => l.startsWith("repaired"));
    expect(line, summary).toMatch(
      new RegExp(
        `^repaired the damaged collection "mrag" in ${path.join(dir, ".mrag", "data")}: \\d+ unreadable chunk\\(s\\) dropped, 1 chunk\\(s\\) of 1 source\\(s\\) kept; 5 source\\(s\\) re-ingested$`,
      ),
    );
    expect(await sources(dir)).toEqual(await sources(clean));
    expect(await answers(dir)).toEqual(await answers(clean));
    // Nothing left to repair: the next ingest is an ordinary one.
    const again = await ingest(dir, "docs");
    expect(again).not.toMatch(/repaired/);
    expect(again).toMatch(/0 added, 0 updated, 5 unchanged/);
  }, 240_000);

  it("unreadable newest manifests: the newest readable version is restored and the change since is re-ingested", async () => {
    const dir = workspace("manifest");
    await ingest(dir, "docs");
    await ingest(dir, "extra");
    const before = new Set(manifests(dir));
    appendFileSync(path.join(dir, "docs", "troubleshooting.md"), CHANGE);
    expect(await ingest(dir, "docs")).toMatch(/0 added, 1 updated/);
    const newer = manifests(dir).filter((f) => !before.has(f));
    expect(newer.length).toBeGreaterThan(0);
    for (const f of newer) writeFileSync(path.join(versionsDir(dir), f), "garbage\n");
    const broken = await runMrag(["sources"], { cwd: dir });
    expect(broken.code).toBe(1);
    expect(broken.stderr).toMatch(/is damaged/);

    const summary = await ingest(dir, "docs");
    const line = summary.split("\n").find((l) => l.startsWith("repaired"));
    expect(line, summary).toMatch(
      /^repaired the damaged collection "mrag" in .*: restored version \d+ \(unreadable versions? [\d, ]+ moved to .*\/damaged\/mrag-[^/]+\/_versions\); 1 source\(s\) re-ingested$/,
    );
    // The garbled manifests are kept aside, not deleted.
    const quarantine = /moved to (\S+)\)/.exec(line as string)?.[1] as string;
    expect(readdirSync(quarantine).sort()).toEqual(newer.sort());

    const clean = workspace("clean-b");
    appendFileSync(path.join(clean, "docs", "troubleshooting.md"), CHANGE);
    await ingest(clean, "docs");
    await ingest(clean, "extra");
    // The same state, reached in another order: compare the sources and what each search finds.
    expect(await sources(dir)).toEqual(await sources(clean));
    const quokka = await runMrag(["search", "quokka error", "--mode", "keyword", "--json"], { cwd: dir });
    expect(quokka.code, quokka.stderr).toBe(0);
    expect(quokka.stdout).toMatch(/quokka service was restarted/);
    expect(await answers(dir)).toEqual(await answers(clean));
  }, 240_000);

  it("truncated full-text index files: the next ingest that writes rebuilds the index", async () => {
    const dir = workspace("index");
    await ingest(dir, "docs");
    await ingest(dir, "extra");
    const indices = path.join(tableDir(dir), "_indices");
    const inverted = readdirSync(indices, { recursive: true, encoding: "utf8" }).filter((f) =>
      f.endsWith("invert.lance"),
    );
    expect(inverted.length).toBeGreaterThan(0);
    for (const f of inverted) truncateSync(path.join(indices, f), 500);
    // A small collection's keyword search runs on postings built in memory from the rows, not on these files,
    // so the search still answers, and answers right.
    const search = await runMrag(["search", "vector index", "--mode", "keyword", "--json"], { cwd: dir });
    expect(search.code, search.stderr).toBe(0);
    expect(search.stdout).toMatch(/index/i);

    appendFileSync(path.join(dir, "docs", "troubleshooting.md"), CHANGE);
    const summary = await ingest(dir, "docs");
    expect(
      summary.split("\n").find((l) => l.startsWith("repaired")),
      summary,
    ).toMatch(/^repaired the damaged collection "mrag" in .*: rebuilt search_text_idx; \d+ source\(s\) re-ingested$/);
    const clean = workspace("clean-d");
    appendFileSync(path.join(clean, "docs", "troubleshooting.md"), CHANGE);
    await ingest(clean, "docs");
    await ingest(clean, "extra");
    expect(await sources(dir)).toEqual(await sources(clean));
    expect(await answers(dir)).toEqual(await answers(clean));
  }, 240_000);

  it("no readable manifest at all: the table starts again and the ingest rebuilds it from the documents", async () => {
    const clean = workspace("clean-c");
    await ingest(clean, "docs");
    const dir = workspace("all-manifests");
    await ingest(dir, "docs");
    const all = manifests(dir);
    for (const f of all) writeFileSync(path.join(versionsDir(dir), f), "garbage\n");
    const summary = await ingest(dir, "docs");
    const line = summary.split("\n").find((l) => l.startsWith("repaired"));
    expect(line, summary).toMatch(
      /: no version was readable \(unreadable versions [\d, ]+ moved to .*\); 5 source\(s\) re-ingested$/,
    );
    expect(readdirSync(/moved to (\S+)\)/.exec(line as string)?.[1] as string).sort()).toEqual(all.sort());
    expect(await sources(dir)).toEqual(await sources(clean));
    expect(await answers(dir)).toEqual(await answers(clean));
  }, 240_000);
});
