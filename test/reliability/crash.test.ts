import { existsSync } from "node:fs";
import { cp, mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadConfig } from "../../src/config/index.js";
import { silentLogger } from "../../src/log.js";
import { LOCK_FILE } from "../../src/store/embedded/marker.js";
import { createContext } from "../../src/tools/context.js";
import { deleteSourceTool } from "../../src/tools/delete-source.js";
import { callTool } from "../../src/tools/tool.js";
import { runMrag } from "../helpers/cli.js";
import {
  CHUNK_ARGS,
  type CorpusOptions,
  classifySources,
  commitTimeline,
  drawKillPoint,
  duplicateProblems,
  killNow,
  latestVersion,
  lockHeldBy,
  prng,
  removeDir,
  runUntil,
  type Snapshot,
  seedFrom,
  snapshot,
  startMrag,
  startServe,
  unitVector,
  waitForLock,
  writeCorpus,
} from "./crash-helpers.js";

/**
 * Issue 7, item 1: SIGKILL a real `mrag` process at random points of a large ingest and of deletes. After
 * each kill the store must open and search, every source must be exactly at its old or its new version (or,
 * for deletes, fully present or fully gone), no chunk may be stored twice, and running the command again
 * must finish the job. Kill points (after how many table commits, plus a few ms; or a time before the first
 * commit) come from a seeded PRNG, and MRAG_CRASH_SEED replays a plan; the processes' own timing is not
 * reproducible, so the seed fixes the plan, not the exact instruction each kill interrupts.
 */

const KILLS = 20;
const DELETE_KILLS = 20;
const CORPUS: Omit<CorpusOptions, "seed"> = { files: 100, groups: 5 };

const seed = seedFrom("MRAG_CRASH_SEED");
const rand = prng(seed);
const queryVector = unitVector(256, prng(seed ^ 0x5eed));

let dir: string;
let docs: string;
let sources: string[];
/** Reference chunk sets per source: index 0 = version 1 (fully ingested), 1 = version 2. */
let versions: [Map<string, string>, Map<string, string>];
let refCounts: [{ chunks: number; sources: number }, { chunks: number; sources: number }];
/** A complete version-2 ingest, measured once: its commits, and ms from taking the lock to the first one. */
let ingestCommits: number;
let ingestPreCommitMs: number;

const store = (name: string) => path.join(dir, "stores", name);
const ingestArgs = (name: string) => ["--store", store(name), "ingest", "docs", ...CHUNK_ARGS];
const corpus = (version: number) => writeCorpus(docs, version, { ...CORPUS, seed });

/** Every source at exactly one reference version (or, when `mayBeGone`, absent), and no chunk stored twice. */
function check(snap: Snapshot, label: string, mayBeGone = false): Map<string, number | "missing"> {
  const { at, problems } = classifySources(snap, versions, sources);
  problems.push(...duplicateProblems(snap.rows));
  if (!mayBeGone) for (const [s, v] of at) if (v === "missing") problems.push(`${s} lost all its chunks`);
  expect(problems, `${label} (MRAG_CRASH_SEED=${seed})`).toEqual([]);
  return at;
}

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), "mrag-crash-"));
  docs = path.join(dir, "docs");
  sources = (await corpus(1)).map((rel) => `docs/${rel}`).sort();
  const base = await runMrag(ingestArgs("base"), { cwd: dir, env: { MRAG_SOURCE_ROOT: dir } });
  expect(base.stderr).toBe("");
  expect(base.code).toBe(0);
  const v1 = await snapshot(store("base"), queryVector);

  // The reference version 2: a full ingest over a copy of the base, with the times of its commits.
  await corpus(2);
  await cp(store("base"), store("ref"), { recursive: true });
  const ref = startMrag(ingestArgs("ref"), { cwd: dir, env: { MRAG_SOURCE_ROOT: dir } });
  expect(await waitForLock(store("ref"), ref)).toBe(true);
  const timeline = await commitTimeline(store("ref"), ref.result);
  expect((await ref.result).code).toBe(0);
  ingestCommits = timeline.length;
  ingestPreCommitMs = timeline[0] ?? 0;
  const v2 = await snapshot(store("ref"), queryVector);
  versions = [v1.signatures, v2.signatures];
  refCounts = [
    { chunks: v1.rows.length, sources: v1.signatures.size },
    { chunks: v2.rows.length, sources: v2.signatures.size },
  ];
  // The corpus is what the test claims: every source present in both versions, different in each.
  expect([...v1.signatures.keys()].sort()).toEqual(sources);
  expect([...v2.signatures.keys()].sort()).toEqual(sources);
  for (const s of sources) expect(v1.signatures.get(s)).not.toBe(v2.signatures.get(s));
  console.log(
    `crash corpus: ${sources.length} files, ${refCounts[0].chunks} -> ${refCounts[1].chunks} chunks; ` +
      `v2 ingest: ${ingestCommits} commits at ${timeline.join(", ")} ms after taking the lock`,
  );
}, 120_000);

afterAll(async () => {
  if (dir) await removeDir(dir);
});

describe("crash safety of the embedded store (SIGKILL)", () => {
  it(`ingest: ${KILLS} kills at random points; each source stays old or new; re-running completes`, async () => {
    // One store carried through every trial: each run starts on what the previous kill left (stale lock,
    // half-written files), as a user re-running a crashed ingest would.
    await cp(store("base"), store("chain"), { recursive: true });
    let target = 1; // index into `versions` the docs folder is at; the chain store is complete at version 0
    await corpus(target + 1);
    let previous = await snapshot(store("chain"), queryVector);
    const tally = {
      runs: 0,
      kills: 0,
      beforeFirstCommit: 0,
      midWrite: 0,
      mixedAfterKill: 0,
      afterAllReplaced: 0,
      staleLocks: 0,
    };
    const tallyCompleted: number[] = [];
    const started = Date.now();

    while (tally.kills < KILLS) {
      tally.runs++;
      expect(tally.runs, "too many runs without enough kills").toBeLessThan(KILLS * 3);
      const label = `run ${tally.runs} (kill ${tally.kills + 1}, target v${target + 1})`;
      // Kill points spread over the commits still to come (about as many as the reference made for the sources
      // not yet at the target), a few before the first one; a point past the last commit lets the run finish.
      const behind = [...classifySources(previous, versions, sources).at.values()].filter((v) => v !== target).length;
      const point = drawKillPoint(rand, {
        commits: Math.ceil((ingestCommits * behind) / sources.length),
        preCommitMs: ingestPreCommitMs,
        preCommitShare: 0.15,
        jitterMs: 25,
      });
      const run = startMrag(ingestArgs("chain"), { cwd: dir, env: { MRAG_SOURCE_ROOT: dir } });
      if (await waitForLock(store("chain"), run)) await runUntil(store("chain"), run, point, previous.version);
      const { killed, result } = await killNow(run);
      const snap = await snapshot(store("chain"), queryVector);
      const at = check(snap, label);

      if (!killed) {
        // Finished by itself: it must have completed the job (this is also "re-running completes").
        expect(result.stderr, label).toBe("");
        expect(result.code, label).toBe(0);
        expect(
          [...at.values()].every((v) => v === target),
          `${label}: all sources at the target`,
        ).toBe(true);
        expect(snap.rows.length).toBe(refCounts[target]!.chunks);
        expect(existsSync(path.join(store("chain"), LOCK_FILE)), `${label}: lock released`).toBe(false);
        tallyCompleted.push(tally.runs);
        target = 1 - target;
        await corpus(target + 1);
      } else {
        tally.kills++;
        // The killed process's lock stays behind; the next run has to take it over.
        if (await lockHeldBy(store("chain"), run.pid)) tally.staleLocks++;
        const moved = [...at.values()].filter((v) => v === target).length;
        const before = sources.length - behind;
        if (snap.version === previous.version) tally.beforeFirstCommit++;
        else tally.midWrite++;
        if (moved > 0 && moved < sources.length) tally.mixedAfterKill++;
        if (moved === sources.length) tally.afterAllReplaced++;
        expect(moved, `${label}: sources never go back to the old version`).toBeGreaterThanOrEqual(before);
      }
      previous = snap;
    }

    // Re-run after the last kill: it finishes, every source is new, and `mrag stats` agrees with the reference.
    const final = await runMrag(ingestArgs("chain"), { cwd: dir, env: { MRAG_SOURCE_ROOT: dir } });
    expect(final.stderr).toBe("");
    expect(final.code).toBe(0);
    const at = check(await snapshot(store("chain"), queryVector), "final re-run");
    expect([...at.values()].every((v) => v === target)).toBe(true);
    const stats = await runMrag(["--store", store("chain"), "stats", "--json"], {
      cwd: dir,
      env: { MRAG_SOURCE_ROOT: dir },
    });
    expect(stats.code).toBe(0);
    expect(JSON.parse(stats.stdout)).toMatchObject(refCounts[target]!);
    const search = await runMrag(["--store", store("chain"), "search", "compaction manifest", "--json"], {
      cwd: dir,
      env: { MRAG_SOURCE_ROOT: dir },
    });
    expect(search.code).toBe(0);
    expect((JSON.parse(search.stdout) as { hits: unknown[] }).hits.length).toBeGreaterThan(0);

    console.log(
      `ingest kills (MRAG_CRASH_SEED=${seed}): ${JSON.stringify(tally)}; runs that completed: ` +
        `${tallyCompleted.join(", ") || "none"}; ${((Date.now() - started) / 1000).toFixed(1)} s`,
    );
    // The trials must actually have hit the store while it was being written.
    expect(tally.midWrite).toBeGreaterThanOrEqual(KILLS / 4);
    expect(tally.mixedAfterKill).toBeGreaterThan(0);
    expect(tally.staleLocks).toBeGreaterThan(0);
  }, 240_000);

  it(`delete (delete_source over MCP stdio and \`mrag delete\`): ${DELETE_KILLS} kills; each source fully present or gone`, async () => {
    // Uninterrupted deletes set the kill points: their commits, and when the first comes (after the
    // delete_source call is sent; after `mrag delete` takes the lock).
    await cp(store("base"), store("del-ref"), { recursive: true });
    const server = startServe(store("del-ref"), dir);
    await server.initialize();
    const call = server.call("delete_source", { prefix: "docs/g0/" });
    const mcpTimeline = await commitTimeline(store("del-ref"), call);
    await killNow(server.running);
    expect((await call).isError ?? false).toBe(false);
    const cli = startMrag(["--store", store("del-ref"), "delete", "docs/g1/"], {
      cwd: dir,
      env: { MRAG_SOURCE_ROOT: dir },
    });
    expect(await waitForLock(store("del-ref"), cli)).toBe(true);
    const cliTimeline = await commitTimeline(store("del-ref"), cli.result);
    expect((await cli.result).code).toBe(0);

    const tally = { trials: 0, kills: 0, keptAll: 0, goneAll: 0, midWrite: 0, finishedFirst: 0 };
    const started = Date.now();
    const baseVersion = await latestVersion(store("base"));

    while (tally.kills < DELETE_KILLS) {
      const trial = tally.trials++;
      expect(trial, "too many trials without enough kills").toBeLessThan(DELETE_KILLS * 3);
      const name = `del-${trial}`;
      await cp(store("base"), store(name), { recursive: true });
      const group = `docs/g${trial % CORPUS.groups}/`;
      const exact = sources.find((s) => s.startsWith(group)) as string;
      const selector: { prefix: string } | { source: string } = trial % 4 >= 2 ? { source: exact } : { prefix: group };
      const selected = sources.filter((s) => ("prefix" in selector ? s.startsWith(group) : s === exact));
      // One trial in three through the MCP tool (its server also loads the model), the rest through the CLI.
      const viaMcp = trial % 3 === 0;
      const label = `delete trial ${trial} (${viaMcp ? "delete_source" : "mrag delete"} ${JSON.stringify(selector)})`;

      const timeline = viaMcp ? mcpTimeline : cliTimeline;
      const point = drawKillPoint(rand, {
        commits: timeline.length,
        preCommitMs: timeline[0] ?? 0,
        preCommitShare: 0.2,
        jitterMs: 10,
      });
      let killed: boolean;
      if (viaMcp) {
        const server = startServe(store(name), dir);
        await server.initialize();
        let answered = false;
        const reply = server.call("delete_source", selector).then(
          (r) => {
            answered = true;
            expect(r.isError ?? false, label).toBe(false);
          },
          () => undefined, // killed before it answered
        );
        await Promise.race([reply, runUntil(store(name), server.running, point, baseVersion)]);
        killed = (await killNow(server.running)).killed && !answered;
        await reply;
      } else {
        const run = startMrag(["--store", store(name), "delete", "prefix" in selector ? group : exact], {
          cwd: dir,
          env: { MRAG_SOURCE_ROOT: dir },
        });
        if (await waitForLock(store(name), run)) await runUntil(store(name), run, point, baseVersion);
        const outcome = await killNow(run);
        killed = outcome.killed;
        if (!killed) expect(outcome.result.code, `${label}: ${outcome.result.stderr}`).toBe(0);
      }

      const snap = await snapshot(store(name), queryVector);
      const at = check(snap, label, true);
      for (const s of sources) {
        if (!selected.includes(s)) expect(at.get(s), `${label}: ${s} is not selected and stays`).toBe(0);
      }
      const gone = selected.filter((s) => at.get(s) === "missing").length;
      if (gone === 0) tally.keptAll++;
      if (gone === selected.length) tally.goneAll++;
      if (killed) {
        tally.kills++;
        if (snap.version !== baseVersion) tally.midWrite++;
      } else {
        tally.finishedFirst++;
        expect(gone, `${label}: a delete that finished removed everything selected`).toBe(selected.length);
      }

      // Deleting again through the tool finishes the job, over the stale lock; nothing else is touched.
      const { config } = loadConfig({ cwd: dir, env: {}, flags: { store: store(name), "ingest.sourceRoot": dir } });
      const context = createContext(config, { cwd: dir, logger: silentLogger });
      try {
        const outcome = await callTool(deleteSourceTool, context, selector);
        expect(outcome.ok, `${label}: re-run ${outcome.ok ? "" : outcome.message}`).toBe(true);
      } finally {
        await context.close();
      }
      const after = check(await snapshot(store(name), queryVector), `${label}, after the re-run`, true);
      for (const s of sources) {
        expect(after.get(s), `${label}, after the re-run: ${s}`).toBe(selected.includes(s) ? "missing" : 0);
      }
      await removeDir(store(name));
    }

    console.log(
      `delete kills (MRAG_CRASH_SEED=${seed}): ${JSON.stringify(tally)}; commits of a full delete at ` +
        `${mcpTimeline.join(", ")} ms after the delete_source call, ${cliTimeline.join(", ")} ms after ` +
        `\`mrag delete\` took the lock; ${((Date.now() - started) / 1000).toFixed(1)} s`,
    );
    expect(tally.midWrite).toBeGreaterThan(0);
  }, 240_000);
});
