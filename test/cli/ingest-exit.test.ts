import { mkdirSync, writeFileSync } from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runMrag } from "../helpers/cli.js";
import { makeWorkspace, type Workspace } from "../helpers/workspace.js";

describe("mrag ingest: every file counted, exit code says what failed", () => {
  let ws: Workspace;
  const run = (...args: string[]) => runMrag(args, { cwd: ws.dir, env: { MRAG_STORE: ws.storeDir } });

  beforeAll(() => {
    ws = makeWorkspace({ copyFaq: false });
    mkdirSync(path.join(ws.docs, "logs"), { recursive: true });
    writeFileSync(path.join(ws.docs, "guide.md"), "# Guide\n\nThe café opens at nine.\n");
    for (const name of ["a.gz", "b.gz", "c.gz", "logs/d.gz", "archive.zip"]) {
      writeFileSync(path.join(ws.docs, name), Buffer.from([0x1f, 0x8b, 0x08, 0x00]));
    }
    writeFileSync(path.join(ws.docs, ".hidden.md"), "# hidden\n");
    // "Café crème: prix réduits." in Latin-1.
    writeFileSync(path.join(ws.dir, "latin1.txt"), Buffer.from("Caf\xe9 cr\xe8me: prix r\xe9duits.\n", "latin1"));
    mkdirSync(path.join(ws.dir, "empty"));
    mkdirSync(path.join(ws.dir, "only-gz"));
    writeFileSync(path.join(ws.dir, "only-gz", "x.gz"), Buffer.from([0x1f, 0x8b]));
  });
  afterAll(async () => ws?.cleanup());

  it("counts files of types mrag does not take, by reason and extension, and exits 0", async () => {
    const r = await run("ingest", "docs");
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^1 added/);
    expect(r.stdout).toContain("not taken: 5 unsupported type (.gz 4, .zip 1), 1 hidden");
    const json = JSON.parse((await run("ingest", "docs", "--json")).stdout) as {
      notTaken: { byReason: Record<string, number>; byExtension: Record<string, number> };
    };
    expect(json.notTaken.byReason).toMatchObject({ "unsupported-type": 5, hidden: 1 });
    expect(json.notTaken.byExtension).toEqual({ ".gz": 4, ".zip": 1 });
  });

  it("an empty folder, or one with nothing mrag reads, exits 1 and says what it found", async () => {
    const empty = await run("ingest", "empty");
    expect(empty.code).toBe(1);
    expect(empty.stderr).toMatch(/found nothing to ingest in empty \(no files\)/);
    const gz = await run("ingest", "only-gz");
    expect(gz.code).toBe(1);
    expect(gz.stderr).toMatch(/files left out: 1 unsupported type \(\.gz 1\)/);
  });

  it("a URL that cannot be fetched exits 1 alone, and 3 (partial) next to something that worked", async () => {
    const url = "http://127.0.0.1:9/missing.html";
    const alone = await run("ingest", url, "--allow-private-urls");
    expect(alone.code).toBe(1);
    expect(alone.stderr).toMatch(/1 of 1 source\(s\) failed .*fetch-failed.*nothing was ingested/);
    const mixed = await run("ingest", "docs/guide.md", url, "--allow-private-urls");
    expect(mixed.code).toBe(3);
    expect(mixed.stderr).toMatch(/1 of 2 source\(s\) failed.*the rest was ingested \(exit 3\)/);
    expect(mixed.stderr.trim().split("\n")).toHaveLength(1);
  });

  it("a Latin-1 file is decoded as windows-1252, the summary says so, and its words are searchable", async () => {
    const r = await run("ingest", "latin1.txt");
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain("latin1.txt: not valid UTF-8; decoded as windows-1252");
    const hits = await run("search", "crème", "--mode", "keyword", "--json");
    expect(hits.stdout).toContain("Café crème: prix réduits.");
  });
});
