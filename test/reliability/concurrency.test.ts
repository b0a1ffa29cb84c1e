import { mkdir, mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { connect } from "@lancedb/lancedb";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DB_DIR } from "../../src/store/embedded/marker.js";
import { openEmbeddedStore } from "../../src/store/embedded/store.js";
import { type CliResult, runMrag } from "../helpers/cli.js";
import { makeSource } from "../store-contract/fixtures.js";
import {
  CHUNK_ARGS,
  type ChunkRow,
  classifySources,
  duplicateProblems,
  latestVersion,
  openReader,
  prng,
  readRows,
  removeDir,
  type Snapshot,
  seedFrom,
  signaturesOf,
  sleep,
  snapshot,
  startMrag,
  unitVector,
  waitForLock,
  writeCorpus,
} from "./crash-helpers.js";

/**
 * Issue 7, item 2: real `mrag` processes writing one embedded store at the same time, and readers searching it
 * while an ingest commits. Nothing may be lost, duplicated or half-replaced; a second writer either waits its
 * turn or says clearly that the store is busy and who holds it; a search never fails.
 */

const CORPUS = { files: 60, groups: 3 };
const seed = seedFrom("MRAG_CONCURRENCY_SEED");
const rand = prng(seed);
const queryVector = unitVector(256, prng(seed ^ 0xc0c0));

let dir: string;
/** Every source of the version-1 corpus and its chunk set, from one plain sequential ingest. */
let sources: string[];
let reference: Snapshot;

const ingestJson = (storeDir: string, folders: string[]) => [
  "--store",
  storeDir,
  "ingest",
  ...folders,
  ...CHUNK_ARGS,
  "--json",
];

/** Clean: exit 0 and nothing on stderr but the one notice a writer gives while it waits for the lock. */
function expectClean(result: CliResult, label: string): void {
  const other = result.stderr.split("\n").filter((l) => l !== "" && !/^mrag warning: waiting up to \d+ s for /.test(l));
  expect(other, label).toEqual([]);
  expect(result.code, label).toBe(0);
}

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), "mrag-concurrency-"));
  sources = (await writeCorpus(path.join(dir, "docs"), 1, { ...CORPUS, seed })).map((rel) => `docs/${rel}`).sort();
  expectClean(
    await runMrag(ingestJson("stores/ref", ["docs"]), { cwd: dir, env: { MRAG_SOURCE_ROOT: dir } }),
    "reference ingest",
  );
  reference = await snapshot(path.join(dir, "stores/ref"), queryVector);
  expect([...reference.signatures.keys()].sort()).toEqual(sources);
}, 120_000);

afterAll(async () => {
  if (dir) await removeDir(dir);
});

/** The store holds every corpus source exactly as the sequential reference ingest wrote it, each chunk once. */
async function expectSameAsReference(storeDir: string, label: string): Promise<void> {
  const snap = await snapshot(storeDir, queryVector);
  const { at, problems } = classifySources(snap, [reference.signatures], sources);
  problems.push(...duplicateProblems(snap.rows));
  for (const [source, v] of at) if (v === "missing") problems.push(`${source} is missing`);
  expect(problems, `${label} (MRAG_CONCURRENCY_SEED=${seed})`).toEqual([]);
  expect(snap.rows.length).toBe(reference.rows.length);
}

describe("concurrent use of one embedded store", () => {
  it("two ingests at once (different and overlapping folders) both finish, and every chunk is stored once", async () => {
    const store = path.join(dir, "stores/pair");
    // g2 is in both; each process is started at the same moment, so both want the write lock at once.
    const first = startMrag(ingestJson(store, ["docs/g0", "docs/g2"]), { cwd: dir, env: { MRAG_SOURCE_ROOT: dir } });
    const second = startMrag(ingestJson(store, ["docs/g1", "docs/g2"]), { cwd: dir, env: { MRAG_SOURCE_ROOT: dir } });
    const [a, b] = await Promise.all([first.result, second.result]);
    expectClean(a, "first ingest");
    expectClean(b, "second ingest");

    // They ran one after the other: the shared folder was written by exactly one of them and found unchanged
    // by the other (two writers that overlapped would both have added it, or failed on a commit conflict).
    const summaries = [a, b].map((r) => JSON.parse(r.stdout) as { added: string[]; unchanged: string[] });
    const shared = sources.filter((s) => s.startsWith("docs/g2/"));
    const addedBy = summaries.map((s) => shared.filter((x) => s.added.includes(x)).length);
    const unchangedFor = summaries.map((s) => shared.filter((x) => s.unchanged.includes(x)).length);
    expect([...addedBy].sort((x, y) => x - y)).toEqual([0, shared.length]);
    expect(addedBy.map((n, i) => n + unchangedFor[i]!)).toEqual([shared.length, shared.length]);
    await expectSameAsReference(store, "after two concurrent ingests");

    const stats = await runMrag(["--store", store, "stats", "--json"], { cwd: dir, env: { MRAG_SOURCE_ROOT: dir } });
    expect(JSON.parse(stats.stdout)).toMatchObject({ chunks: reference.rows.length, sources: sources.length });
  });

  it("a second writer that may not wait reports a clear busy error naming the holder; the first is unharmed", async () => {
    const store = path.join(dir, "stores/busy");
    const holder = startMrag(ingestJson(store, ["docs"]), { cwd: dir, env: { MRAG_SOURCE_ROOT: dir } });
    expect(await waitForLock(store, holder)).toBe(true);
    // Pause the holder inside its ingest so that it certainly still holds the lock while the second one tries.
    process.kill(holder.pid, "SIGSTOP");
    let second: CliResult;
    try {
      second = await runMrag(ingestJson(store, ["docs/g1"]), {
        cwd: dir,
        env: { MRAG_SOURCE_ROOT: dir, MRAG_LOCK_WAIT_MS: "200" },
      });
    } finally {
      process.kill(holder.pid, "SIGCONT");
    }
    expectClean(await holder.result, "the holder");

    expect(second.code).toBe(1);
    expect(second.stdout).toBe("");
    const lines = second.stderr.trim().split("\n");
    expect(lines, "one line, no stack trace").toHaveLength(1);
    expect(lines[0]).toMatch(
      /^mrag: the store at .* is busy: process \d+ on this host .*ingest.* has held its write lock/,
    );
    expect(lines[0]).toContain(`process ${holder.pid} `);
    expect(lines[0]).toContain("Retry when it has finished");
    await expectSameAsReference(store, "after a refused second writer");
  });

  it("searches while an ingest commits never fail and never see a source half old and half new", async () => {
    const work = path.join(dir, "live");
    await mkdir(work, { recursive: true });
    const store = path.join(work, "store");
    const docs = path.join(work, "docs");
    // A larger corpus than the other tests: more commits, so reads land between them.
    const live = { files: 100, groups: 5, seed };
    const liveSources = (await writeCorpus(docs, 1, live)).map((rel) => `docs/${rel}`).sort();
    expectClean(
      await runMrag(ingestJson(store, ["docs"]), { cwd: work, env: { MRAG_SOURCE_ROOT: work } }),
      "version 1 ingest",
    );
    const v1 = await snapshot(store, queryVector);
    await writeCorpus(docs, 2, live);

    // One long-lived reader (its own connection, like a running `mrag serve`) plus `mrag search` processes.
    const { store: readerStore, collection } = await openReader(store);
    const observations: { version: number; rows: ChunkRow[]; hits: ChunkRow[][] }[] = [];
    const failures: string[] = [];
    const cliRuns: CliResult[] = [];
    const writer = startMrag(ingestJson(store, ["docs"]), { cwd: work, env: { MRAG_SOURCE_ROOT: work } });
    try {
      const cliLoop = (async () => {
        while (!writer.exited) {
          cliRuns.push(
            await runMrag(["--store", store, "search", "compaction manifest fragment", "--json"], {
              cwd: work,
              env: { MRAG_SOURCE_ROOT: work },
            }),
          );
        }
      })();
      while (!writer.exited) {
        try {
          const version = await latestVersion(store);
          const rows = await readRows(collection);
          const n = observations.length;
          const text = ["compaction manifest", "Revision2 shard replica", "vector index latency"][n % 3]!;
          const mode = (["hybrid", "dense", "keyword"] as const)[n % 3]!;
          const found = await collection.search({ mode, k: 20, vector: unitVector(256, rand), text });
          const hits: ChunkRow[][] = [found.map((h) => h.chunk)];
          const one = liveSources[Math.floor(rand() * liveSources.length)]!;
          hits.push(await collection.getSource(one));
          observations.push({ version, rows, hits });
        } catch (error) {
          failures.push(error instanceof Error ? error.message : String(error));
        }
        await sleep(1);
      }
      await cliLoop;
    } finally {
      await readerStore.close();
    }
    expectClean(await writer.result, "version 2 ingest");
    const v2 = await snapshot(store, queryVector);
    const versions = [v1.signatures, v2.signatures];

    expect(failures, "reads that failed").toEqual([]);
    for (const run of cliRuns) {
      expectClean(run, "mrag search during the ingest");
      expect((JSON.parse(run.stdout) as { hits: unknown[] }).hits.length).toBeGreaterThan(0);
    }
    // Every read saw each source complete at version 1 or version 2, and every search result and getSource
    // drew a source's chunks from one version only.
    const keys = versions.map((v) => new Map([...v].map(([s, sig]) => [s, new Set(sig.split(","))])));
    for (const [i, o] of observations.entries()) {
      const snap = { rows: o.rows, version: o.version, signatures: signaturesOf(o.rows) };
      const { at, problems } = classifySources(snap, versions, liveSources);
      problems.push(...duplicateProblems(o.rows));
      for (const [s, v] of at) if (v === "missing") problems.push(`${s} had no chunks`);
      for (const hitList of o.hits) {
        const bySource = new Map<string, string[]>();
        for (const h of hitList)
          bySource.set(h.source, [...(bySource.get(h.source) ?? []), `${h.position}:${h.contentHash}`]);
        for (const [s, found] of bySource) {
          if (!keys.some((k) => found.every((key) => k.get(s)?.has(key)))) {
            problems.push(`a result mixed versions of ${s}: ${found.join(" ")}`);
          }
        }
      }
      expect(problems, `read ${i} at table version ${o.version} (MRAG_CONCURRENCY_SEED=${seed})`).toEqual([]);
    }
    // The reads really overlapped the writes: they saw several table versions, and stores mixing old and new sources.
    const seenVersions = new Set(observations.map((o) => o.version));
    const mixedReads = observations.filter((o) => {
      const at = classifySources({ ...o, signatures: signaturesOf(o.rows) }, versions, liveSources).at;
      const values = new Set(at.values());
      return values.has(0) && values.has(1);
    }).length;
    console.log(
      `concurrent reads (MRAG_CONCURRENCY_SEED=${seed}): ${observations.length} in-process reads over ` +
        `${seenVersions.size} table versions, ${mixedReads} while old and new sources coexisted; ` +
        `${cliRuns.length} mrag search runs`,
    );
    expect(seenVersions.size).toBeGreaterThanOrEqual(3);
  });

  it("a search still running on the version an ingest has just replaced can finish: its files are kept", async () => {
    // LanceDB removes old versions by creation time. The version a reader started on may have been created
    // long before the write that replaces it (a store idle for an hour, then an ingest), so a clean-up right
    // after that write must still keep it. A short policy stands in for the hour.
    const keepMs = 300;
    const folder = path.join(dir, "stores/pinned");
    const writer = await openEmbeddedStore(folder, { cleanupOlderThanMs: keepMs });
    let db: Awaited<ReturnType<typeof connect>> | undefined;
    try {
      const collection = await writer.openCollection("mrag", { modelId: "test:synthetic", dimension: 8, create: true });
      const sourceOf = (name: string, version: string) => ({
        source: name,
        chunks: makeSource(name, 12, 8, { version }),
      });
      await collection.replaceSources([sourceOf("a.md", "v1"), sourceOf("b.md", "v1"), sourceOf("c.md", "v1")]);
      await collection.replaceSources([sourceOf("a.md", "v2")]);
      // A reader starts a search on the current version: its query pins that version until it is done.
      db = await connect(path.join(folder, DB_DIR));
      const pinned = await db.openTable("mrag");
      await pinned.checkout(await pinned.version());
      const before = await pinned.query().select(["id", "source"]).toArray();
      await sleep(keepMs * 2); // the pinned version is now older than the policy
      await collection.replaceSources([sourceOf("a.md", "v3"), sourceOf("b.md", "v2")]);
      await collection.optimize(); // compaction and clean-up of old versions
      // The reader's search goes on reading the version it started on.
      const after = await pinned.query().select(["id", "source"]).toArray();
      expect(after.map((r) => String(r.id)).sort()).toEqual(before.map((r) => String(r.id)).sort());
      const hits = await pinned.query().fullTextSearch("chunk", { columns: "search_text" }).limit(50).toArray();
      expect(hits.length).toBeGreaterThan(0);
      pinned.close();
    } finally {
      db?.close();
      await writer.close();
    }
  });
});
