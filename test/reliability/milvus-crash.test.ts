import { mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { MilvusClient } from "@zilliz/milvus2-sdk-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openMilvusStore } from "../../src/store/milvus/store.js";
import { runMrag } from "../helpers/cli.js";
import { type MilvusLiteServer, startMilvusLite } from "../helpers/milvus-lite.js";
import {
  type ChunkRow,
  type CorpusOptions,
  classifySources,
  duplicateProblems,
  killNow,
  prng,
  type Running,
  removeDir,
  type Snapshot,
  seedFrom,
  signaturesOf,
  sleep,
  sleepOrExit,
  startMrag,
  unitVector,
  writeCorpus,
} from "./crash-helpers.js";

/**
 * Issue 18, item 1: SIGKILL a real `mrag` process at random moments of an ingest and of deletes into a real
 * Milvus-protocol server (Milvus Lite). Milvus has no transactions; mrag's generations (src/store/milvus/
 * generations.ts) must still leave every source wholly at one version (deletes: wholly present or gone), with
 * no chunk seen twice, and the next run must finish the job and remove what the killed one left behind.
 * Kill points are times after the process starts, drawn from a seeded PRNG over the measured duration of an
 * uninterrupted run (MRAG_CRASH_SEED replays the plan, not the exact instruction each kill interrupts).
 */

const KILLS = 20;
const DELETE_KILLS = 20;
const CORPUS: Omit<CorpusOptions, "seed"> = { files: 30, groups: 3 };
/** Smaller chunks than the embedded crash test: about 870 chunks in version 2, two ingest commits. */
const CHUNKS = ["--chunk-chars", "250"];

const seed = seedFrom("MRAG_CRASH_SEED");
const rand = prng(seed);

let server: MilvusLiteServer;
let dir: string;
let docs: string;
let sources: string[];
let versions: [Map<string, string>, Map<string, string>];
let refChunks: [number, number];
/** An uninterrupted v1 -> v2 ingest: ms from spawning it to its first row on the server, and to its exit. */
let ingestMs: { firstWrite: number; total: number };
let queryVector: Float32Array;

const args = (collection: string, ...rest: string[]) => ["--store", server.uri, "--collection", collection, ...rest];
const ingest = (collection: string) => args(collection, "ingest", "docs", ...CHUNKS);
const corpus = (version: number) => writeCorpus(docs, version, { ...CORPUS, seed });

/** What a reader of the collection sees (every source through the store), after searching in every mode. */
async function snapshot(collection: string): Promise<Snapshot & { stored: number }> {
  const store = await openMilvusStore({ uri: server.uri, timeoutMs: 30_000 });
  try {
    const meta = (await store.listCollections()).find((c) => c.name === collection);
    if (!meta) throw new Error(`no collection ${collection}`);
    const c = await store.openCollection(collection, {
      modelId: meta.modelId,
      dimension: meta.dimension,
      create: false,
    });
    for (const mode of ["hybrid", "dense", "keyword"] as const) {
      await c.search({ mode, k: 5, vector: queryVector, text: "compaction manifest fragment" });
    }
    const rows: ChunkRow[] = [];
    for (const s of await c.listSources()) {
      for (const chunk of await c.getSource(s.source)) rows.push(chunk);
    }
    const admin = new MilvusClient({ address: server.uri.replace(/^\w+:\/\//, "") });
    const stored = Number((await admin.count({ collection_name: collection })).data);
    await admin.closeConnection();
    return { rows, version: 0, signatures: signaturesOf(rows), stored };
  } finally {
    await store.close();
  }
}

function check(snap: Snapshot, label: string, mayBeGone = false): Map<string, number | "missing"> {
  const { at, problems } = classifySources(snap, versions, sources);
  problems.push(...duplicateProblems(snap.rows));
  if (!mayBeGone) for (const [s, v] of at) if (v === "missing") problems.push(`${s} lost all its chunks`);
  expect(problems, `${label} (MRAG_CRASH_SEED=${seed})`).toEqual([]);
  return at;
}

/** The source-id prefix of the corpus folder `g<n>/`. */
function groupPrefix(n: number): string {
  const inGroup = sources.find((s) => s.includes(`docs/g${n}/`)) as string;
  return inGroup.slice(0, inGroup.indexOf(`docs/g${n}/`) + `docs/g${n}/`.length);
}

/** Rows on the server, visible or not. */
async function storedRows(collection: string): Promise<number> {
  const admin = new MilvusClient({ address: server.uri.replace(/^\w+:\/\//, "") });
  try {
    return Number((await admin.count({ collection_name: collection })).data);
  } finally {
    await admin.closeConnection();
  }
}

/** Resolves when the server holds more rows than `baseline` (the run has started writing) or the run ends. */
async function firstWrite(collection: string, run: Running, baseline: number): Promise<void> {
  while (!run.exited && (await storedRows(collection)) <= baseline) await sleep(50);
}

/**
 * Run `mrag` and SIGKILL it: with `share` of the draws at a random time before it writes anything, otherwise
 * a random time into its writing (measured from its first row on the server), up to 10% past a whole run.
 */
async function runAndKill(argv: string[], collection: string, timing: { firstWrite: number; total: number }) {
  const baseline = await storedRows(collection);
  const run = startMrag(argv, { cwd: dir });
  let point: string;
  if (rand() < 0.15) {
    const ms = Math.floor(rand() * timing.firstWrite);
    point = `${ms} ms after the start`;
    await sleepOrExit(run, ms);
  } else {
    await firstWrite(collection, run, baseline);
    const ms = Math.floor(rand() * (timing.total - timing.firstWrite) * 1.1);
    point = `${ms} ms after its first write`;
    await sleepOrExit(run, ms);
  }
  return { ...(await killNow(run)), point };
}

/** Time an uninterrupted run: to its first row on the server and to its exit. */
async function timeRun(argv: string[], collection: string): Promise<{ firstWrite: number; total: number }> {
  const baseline = await storedRows(collection);
  const started = Date.now();
  const run = startMrag(argv, { cwd: dir });
  await firstWrite(collection, run, baseline);
  const first = Date.now() - started;
  const result = await run.result;
  expect(result.code, result.stderr).toBe(0);
  return { firstWrite: first, total: Date.now() - started };
}

beforeAll(async () => {
  server = await startMilvusLite();
  dir = await mkdtemp(path.join(tmpdir(), "mrag-milvus-crash-"));
  docs = path.join(dir, "docs");
  const written = await corpus(1);
  const v1run = await runMrag(ingest("chain"), { cwd: dir });
  expect(v1run.code, v1run.stderr).toBe(0);
  const meta = await (async () => {
    const store = await openMilvusStore({ uri: server.uri });
    try {
      return (await store.listCollections()).find((c) => c.name === "chain")!;
    } finally {
      await store.close();
    }
  })();
  queryVector = unitVector(meta.dimension, prng(seed ^ 0x5eed));
  const v1 = await snapshot("chain");
  // Source ids as the store names them (their form is the ingest layer's business), one per written file.
  sources = [...v1.signatures.keys()].sort();
  expect(sources.length).toBe(written.length);
  for (const rel of written) expect(sources.some((s) => s.endsWith(`docs/${rel}`))).toBe(true);
  // The reference version 2 in a collection of its own; its uninterrupted duration sets the kill points.
  const refBase = await runMrag(ingest("ref"), { cwd: dir });
  expect(refBase.code, refBase.stderr).toBe(0);
  await corpus(2);
  ingestMs = await timeRun(ingest("ref"), "ref");
  const v2 = await snapshot("ref");
  versions = [v1.signatures, v2.signatures];
  refChunks = [v1.rows.length, v2.rows.length];
  expect([...v1.signatures.keys()].sort()).toEqual(sources);
  expect([...v2.signatures.keys()].sort()).toEqual(sources);
  for (const s of sources) expect(v1.signatures.get(s)).not.toBe(v2.signatures.get(s));
  console.log(
    `milvus crash corpus: ${sources.length} files, ${refChunks[0]} -> ${refChunks[1]} chunks; ` +
      `an uninterrupted v1 -> v2 ingest writes its first row after ${ingestMs.firstWrite} ms and ends after ${ingestMs.total} ms`,
  );
}, 300_000);

afterAll(async () => {
  await server?.stop();
  if (dir) await removeDir(dir);
});

describe("crash safety of the Milvus store (SIGKILL, Milvus Lite)", () => {
  it(`ingest: ${KILLS} kills at random moments; each source stays old or new; re-running completes`, async () => {
    let target = 1;
    let previous = await snapshot("chain");
    const tally = { runs: 0, kills: 0, unchanged: 0, moved: 0, mixedAfterKill: 0, leftovers: 0 };
    const started = Date.now();
    while (tally.kills < KILLS) {
      tally.runs++;
      expect(tally.runs, "too many runs without enough kills").toBeLessThan(KILLS * 3);
      const label = `run ${tally.runs} (kill ${tally.kills + 1}, target v${target + 1})`;
      const { killed, result, point } = await runAndKill(ingest("chain"), "chain", ingestMs);
      const snap = await snapshot("chain");
      const at = check(snap, `${label}, killed ${point}`);
      const moved = [...at.values()].filter((v) => v === target).length;
      const before = [...classifySources(previous, versions, sources).at.values()].filter((v) => v === target).length;
      expect(moved, `${label}: sources never go back to the old version`).toBeGreaterThanOrEqual(before);
      if (!killed) {
        expect(result.code, `${label}: ${result.stderr}`).toBe(0);
        expect(moved, `${label}: a finished run moved every source`).toBe(sources.length);
        target = 1 - target;
        await corpus(target + 1);
      } else {
        tally.kills++;
        if (moved === before) tally.unchanged++;
        else tally.moved++;
        if (moved > 0 && moved < sources.length) tally.mixedAfterKill++;
        // Rows no reader sees: what the killed writer had written but not committed, or hidden old versions.
        if (snap.stored > snap.rows.length) tally.leftovers++;
      }
      previous = snap;
    }
    const final = await runMrag(ingest("chain"), { cwd: dir });
    expect(final.code, final.stderr).toBe(0);
    const snap = await snapshot("chain");
    const at = check(snap, "final re-run");
    expect([...at.values()].every((v) => v === target)).toBe(true);
    expect(snap.rows.length).toBe(refChunks[target]);
    // The re-run removed everything the killed runs left behind.
    expect(snap.stored, "rows on the server after the re-run").toBe(snap.rows.length);
    const stats = await runMrag(args("chain", "stats", "--json"), { cwd: dir });
    expect(stats.code, stats.stderr).toBe(0);
    expect(JSON.parse(stats.stdout)).toMatchObject({ chunks: refChunks[target], sources: sources.length });
    console.log(
      `milvus ingest kills (MRAG_CRASH_SEED=${seed}): ${JSON.stringify(tally)}; ` +
        `${((Date.now() - started) / 1000).toFixed(1)} s`,
    );
    // The kills must have hit the writes: most left rows behind that no reader saw, some came after a commit.
    expect(tally.leftovers, "kills that left uncommitted or hidden rows").toBeGreaterThanOrEqual(KILLS / 2);
    expect(tally.moved + tally.mixedAfterKill, "kills after some of a run's commits").toBeGreaterThan(0);
  }, 1_800_000);

  it(`delete: ${DELETE_KILLS} kills of \`mrag delete\`; the selected sources are wholly present or gone`, async () => {
    const ready = await runMrag(ingest("chain"), { cwd: dir });
    expect(ready.code, ready.stderr).toBe(0);
    const full = check(await snapshot("chain"), "before the delete trials");
    const version = full.get(sources[0]!) as number;
    expect([...full.values()].every((v) => v === version)).toBe(true);
    // How long an uninterrupted delete of one group takes, from spawning the process.
    const started = Date.now();
    const probe = await runMrag(args("chain", "delete", groupPrefix(0)), { cwd: dir });
    const deleteMs = Date.now() - started;
    expect(probe.code, probe.stderr).toBe(0);
    const tally = { trials: 0, kills: 0, keptAll: 0, goneAll: 0, finishedFirst: 0 };
    while (tally.kills < DELETE_KILLS) {
      const trial = tally.trials++;
      expect(trial, "too many trials without enough kills").toBeLessThan(DELETE_KILLS * 3);
      // Restore the full collection (re-ingest adds back what earlier trials deleted), then delete one group.
      const restore = await runMrag(ingest("chain"), { cwd: dir });
      expect(restore.code, restore.stderr).toBe(0);
      const group = groupPrefix(trial % CORPUS.groups);
      const exact = sources.find((s) => s.startsWith(group)) as string;
      const byPrefix = trial % 4 < 2;
      const selected = sources.filter((s) => (byPrefix ? s.startsWith(group) : s === exact));
      const label = `delete trial ${trial} (${byPrefix ? group : exact})`;
      // A delete writes no rows (it hides them), so its kill points are times after the start.
      const point = Math.floor(rand() * deleteMs * 1.1);
      const run = startMrag(args("chain", "delete", byPrefix ? group : exact), { cwd: dir });
      await sleepOrExit(run, point);
      const { killed, result } = await killNow(run);
      const at = check(await snapshot("chain"), `${label}, killed ${point} ms after the start`, true);
      for (const s of sources) {
        if (!selected.includes(s)) expect(at.get(s), `${label}: ${s} is not selected and stays`).toBe(version);
      }
      const gone = selected.filter((s) => at.get(s) === "missing").length;
      expect([0, selected.length], `${label}: ${gone} of ${selected.length} selected sources gone`).toContain(gone);
      if (gone === 0) tally.keptAll++;
      else tally.goneAll++;
      if (killed) tally.kills++;
      else {
        tally.finishedFirst++;
        expect(result.code, `${label}: ${result.stderr}`).toBe(0);
        expect(gone, `${label}: a delete that finished removed everything selected`).toBe(selected.length);
      }
      // Deleting again finishes the job (when there is one left); nothing else is touched.
      if (gone === 0) {
        const again = await runMrag(args("chain", "delete", byPrefix ? group : exact), { cwd: dir });
        expect(again.code, again.stderr).toBe(0);
      }
      const after = check(await snapshot("chain"), `${label}, after the re-run`, true);
      for (const s of sources)
        expect(after.get(s), `${label}, re-run: ${s}`).toBe(selected.includes(s) ? "missing" : version);
    }
    console.log(
      `milvus delete kills (MRAG_CRASH_SEED=${seed}): ${JSON.stringify(tally)}; a delete takes ${deleteMs} ms`,
    );
    expect(tally.keptAll).toBeGreaterThan(0);
    expect(tally.goneAll).toBeGreaterThan(0);
  }, 900_000);
});
