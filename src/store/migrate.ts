import { realpathSync } from "node:fs";
import path from "node:path";
import { ModelMismatchError, StoreError, UsageError } from "../errors.js";
import type { Collection, CollectionMeta, SourceInfo, SourceReplacement, Store } from "./types.js";

/**
 * Copy collections from one store to another with their vectors (no embedder involved), source by source.
 *
 * - Resumable: a source already in the destination with the same `sourceHash` and chunk count is skipped, so
 *   running again after an interruption copies only what is missing; a source present but different is
 *   replaced. Each source is written by one `replaceSources` call, so an interruption never leaves a source
 *   half copied.
 * - Sources found only in the destination are left alone and reported.
 * - Refuses before writing anything when a destination collection holds vectors of another model.
 * - Verifies at the end that every source has the same chunk count and source hash on both sides.
 *
 * Uses only the `Store` / `Collection` contract, so it works between any two stores (embedded, Milvus).
 */

/** Chunks per `replaceSources` call: small sources are grouped up to this; a larger source goes alone. */
export const DEFAULT_MIGRATE_BATCH_CHUNKS = 1000;
export const MAX_MIGRATE_BATCH_CHUNKS = 100_000;

export interface MigrateOptions {
  /** Only these collections of the source store (default: all of them). */
  collections?: readonly string[];
  batchChunks?: number;
  /** How long to wait for the destination's write lock (ms). */
  lockWaitMs?: number;
  /** Checked between batches: the batch being written completes, then the run stops and reports `interrupted`. */
  signal?: AbortSignal;
  /** Awaited, so a caller may slow the copy down (or do work between batches). */
  onProgress?: (event: MigrateProgress) => void | Promise<void>;
}

export type MigratePhase = "plan" | "copy" | "index" | "verify" | "done";

export interface MigrateProgress {
  phase: MigratePhase;
  collection: string;
  /** 1-based position of this collection among those being migrated. */
  collectionIndex: number;
  collectionCount: number;
  /** Sources of this collection in the source store. */
  sources: number;
  /** Of those, how many need copying (missing or different in the destination). */
  sourcesToCopy: number;
  sourcesCopied: number;
  sourcesSkipped: number;
  chunksToCopy: number;
  chunksCopied: number;
  /** Since this collection's copy started. */
  elapsedMs: number;
}

export interface SourceState {
  chunks: number;
  sourceHash: string;
}

export interface SourceMismatch {
  source: string;
  expected: SourceState;
  /** null: the source is missing from the destination. */
  found: SourceState | null;
}

export interface CollectionMigration {
  name: string;
  modelId: string;
  dimension: number;
  /** The destination collection did not exist before this run. */
  created: boolean;
  /** Sources in the source collection (when planned). */
  sources: number;
  /** Sources written this run (new plus replaced). */
  copied: number;
  /** Of `copied`, sources that were in the destination with different content. */
  replaced: number;
  /** Sources already identical in the destination. */
  skipped: number;
  /** Sources still to copy when the run was interrupted (0 when complete). */
  pending: number;
  /** Chunks written this run. */
  chunks: number;
  /** Chunks of this collection in the destination once verified. */
  chunksInDestination: number;
  /** Sources in the destination that the source store does not have; left as they are. */
  onlyInDestination: string[];
  verified: boolean;
  mismatches: SourceMismatch[];
}

export interface MigrateSummary {
  from: string;
  to: string;
  collections: CollectionMigration[];
  sources: number;
  copied: number;
  replaced: number;
  skipped: number;
  pending: number;
  chunks: number;
  /** Every collection was copied and verified. */
  verified: boolean;
  /** Stopped by the signal; run again to resume. */
  interrupted: boolean;
  durationMs: number;
}

export type StoreAddress = Pick<Store, "kind" | "location">;

/**
 * A location in a comparable form: the real path of a folder, or a server's host and port (the scheme does
 * not matter: http://h:19530 and grpc://h:19530 are one server; the port defaults as the Milvus client's does).
 */
function canonicalLocation(store: StoreAddress): string {
  if (store.kind !== "embedded") {
    try {
      const url = new URL(store.location);
      const tls = /^(https|grpcs):$/i.test(url.protocol);
      return `${store.kind}:${url.hostname.toLowerCase()}:${url.port || (tls ? "443" : "19530")}`;
    } catch {
      return `${store.kind}:${store.location}`;
    }
  }
  // A destination folder may not exist yet: resolve its nearest existing ancestor (symlinks included).
  let existing = path.resolve(store.location);
  const rest: string[] = [];
  for (;;) {
    try {
      return `embedded:${path.join(realpathSync.native(existing), ...rest)}`;
    } catch {
      const parent = path.dirname(existing);
      if (parent === existing) return `embedded:${path.resolve(store.location)}`;
      rest.unshift(path.basename(existing));
      existing = parent;
    }
  }
}

/** Whether two opened stores are the same place (then a migration would read and write one store). */
export function sameStoreLocation(a: StoreAddress, b: StoreAddress): boolean {
  return a.kind === b.kind && canonicalLocation(a) === canonicalLocation(b);
}

function sameModel(a: CollectionMeta, b: CollectionMeta): boolean {
  return a.modelId === b.modelId && a.dimension === b.dimension;
}

function describeModel(meta: CollectionMeta): string {
  return `${meta.modelId} (${meta.dimension}-d)`;
}

interface Plan {
  meta: CollectionMeta;
  source: Collection;
  sources: SourceInfo[];
  /** The destination's collection before the run, if any. */
  existing: CollectionMeta | undefined;
}

/** Everything checked before the first write: locations, collections, models. */
async function planMigration(from: Store, to: Store, options: MigrateOptions): Promise<Plan[]> {
  if (sameStoreLocation(from, to)) {
    throw new UsageError(
      `--from and --to are the same store (${from.location}); migrate copies between two stores: ` +
        "pass a new folder or a Milvus URI with --to",
    );
  }
  const available = await from.listCollections();
  if (available.length === 0) {
    throw new StoreError(
      `no collections in the source store ${from.location}: nothing to migrate. Check --from: it is the ` +
        "store folder you ingested into (e.g. ./.mrag/data) or a Milvus URI",
    );
  }
  const byName = new Map(available.map((m) => [m.name, m]));
  const wanted = options.collections && options.collections.length > 0 ? [...new Set(options.collections)] : null;
  const metas = wanted
    ? wanted.map((name) => {
        const meta = byName.get(name);
        if (!meta) {
          throw new StoreError(
            `collection "${name}" does not exist in the source store ${from.location} ` +
              `(its collections: ${available.map((m) => m.name).join(", ")}); pick one of those with --collection, ` +
              "or leave --collection out to migrate them all",
          );
        }
        return meta;
      })
    : available;

  const destination = new Map((await to.listCollections()).map((m) => [m.name, m]));
  const plans: Plan[] = [];
  const conflicts: string[] = [];
  for (const meta of metas) {
    const source = await from.openCollection(meta.name, {
      modelId: meta.modelId,
      dimension: meta.dimension,
      create: false,
    });
    const existing = destination.get(meta.name);
    if (existing && !sameModel(existing, meta)) {
      // An emptied collection (e.g. after `mrag delete --all`) may be taken over by another model.
      const current = await to.openCollection(meta.name, {
        modelId: existing.modelId,
        dimension: existing.dimension,
        create: false,
      });
      const chunks = (await current.stats()).chunks;
      if (chunks > 0) {
        conflicts.push(
          `collection "${meta.name}" in ${to.location} holds ${chunks} chunks embedded with ${describeModel(existing)}, ` +
            `but the source's "${meta.name}" was embedded with ${describeModel(meta)}`,
        );
      }
    }
    plans.push({ meta, source, sources: await source.listSources(), existing });
  }
  if (conflicts.length > 0) {
    throw new ModelMismatchError(
      `refusing to migrate, nothing was copied: ${conflicts.join("; ")}. Vectors of different models cannot be ` +
        "mixed in one collection. Migrate into another store (--to), or migrate only the other collections " +
        "(--collection <name>), or, if the destination's data is not needed, empty that collection first " +
        `(\`mrag delete --all --store ${to.location} --collection <name>\` with the --embedder that built it).`,
    );
  }
  if (plans.every((p) => p.sources.length === 0)) {
    throw new StoreError(
      `the source store ${from.location} has no chunks in ${plans.length === 1 ? "collection" : "collections"} ` +
        `${plans.map((p) => `"${p.meta.name}"`).join(", ")}: nothing to migrate. Ingest first, or check --from` +
        (wanted ? " and --collection" : ""),
    );
  }
  return plans;
}

/** Group sources into batches of at most `limit` chunks (a larger source forms a batch of its own). */
function batches(sources: readonly SourceInfo[], limit: number): SourceInfo[][] {
  const out: SourceInfo[][] = [];
  let current: SourceInfo[] = [];
  let size = 0;
  for (const s of sources) {
    if (current.length > 0 && size + s.chunks > limit) {
      out.push(current);
      current = [];
      size = 0;
    }
    current.push(s);
    size += s.chunks;
  }
  if (current.length > 0) out.push(current);
  return out;
}

async function exportBatch(collection: Collection, sources: readonly SourceInfo[]): Promise<SourceReplacement[]> {
  const exported = await collection.exportSources(sources.map((s) => s.source));
  // A source deleted from the source store since the plan has no entry: nothing to copy (an empty replacement
  // would delete it in the destination).
  return sources.flatMap(({ source }) => {
    const chunks = exported.get(source);
    return chunks && chunks.length > 0 ? [{ source, chunks }] : [];
  });
}

function compareSources(expected: readonly SourceInfo[], found: readonly SourceInfo[]): SourceMismatch[] {
  const byName = new Map(found.map((s) => [s.source, s]));
  const mismatches: SourceMismatch[] = [];
  for (const s of expected) {
    const d = byName.get(s.source);
    if (!d || d.chunks !== s.chunks || d.sourceHash !== s.sourceHash) {
      mismatches.push({
        source: s.source,
        expected: { chunks: s.chunks, sourceHash: s.sourceHash },
        found: d ? { chunks: d.chunks, sourceHash: d.sourceHash } : null,
      });
    }
  }
  return mismatches;
}

function checkBatchChunks(value: number | undefined): number {
  if (value === undefined) return DEFAULT_MIGRATE_BATCH_CHUNKS;
  if (!Number.isInteger(value) || value < 1 || value > MAX_MIGRATE_BATCH_CHUNKS) {
    throw new UsageError(
      `batch size must be an integer from 1 to ${MAX_MIGRATE_BATCH_CHUNKS} chunks (got ${String(value)})`,
    );
  }
  return value;
}

/**
 * Migrate `options.collections` (default: all) from `from` to `to`. Throws before writing anything when the
 * stores are the same, the source has nothing to copy, or a destination collection has another model.
 * Returns a summary; `verified: false` with `mismatches` when the destination does not match at the end.
 */
export async function migrateStore(from: Store, to: Store, options: MigrateOptions = {}): Promise<MigrateSummary> {
  const started = Date.now();
  const batchChunks = checkBatchChunks(options.batchChunks);
  const plans = await planMigration(from, to, options);
  const results: CollectionMigration[] = [];
  let interrupted = false;

  for (const [index, plan] of plans.entries()) {
    if (options.signal?.aborted) {
      interrupted = true;
      break;
    }
    const result = await to.withWriteLock(
      () => migrateCollection(plan, to, { ...options, batchChunks }, index + 1, plans.length),
      options.lockWaitMs,
    );
    results.push(result.summary);
    if (result.interrupted) {
      interrupted = true;
      break;
    }
  }

  const sum = (pick: (c: CollectionMigration) => number) => results.reduce((n, c) => n + pick(c), 0);
  // Collections never reached count as pending in full.
  const unreached = plans.slice(results.length).reduce((n, p) => n + p.sources.length, 0);
  return {
    from: from.location,
    to: to.location,
    collections: results,
    sources: plans.reduce((n, p) => n + p.sources.length, 0),
    copied: sum((c) => c.copied),
    replaced: sum((c) => c.replaced),
    skipped: sum((c) => c.skipped),
    pending: sum((c) => c.pending) + unreached,
    chunks: sum((c) => c.chunks),
    verified: !interrupted && results.length === plans.length && results.every((c) => c.verified),
    interrupted,
    durationMs: Date.now() - started,
  };
}

/** One collection, under the destination's write lock: plan against the destination, copy, index, verify. */
async function migrateCollection(
  plan: Plan,
  to: Store,
  options: MigrateOptions & { batchChunks: number },
  collectionIndex: number,
  collectionCount: number,
): Promise<{ summary: CollectionMigration; interrupted: boolean }> {
  const { meta, source, sources } = plan;
  const dest = await to.openCollection(meta.name, { modelId: meta.modelId, dimension: meta.dimension, create: true });
  const before = await dest.listSources();
  const beforeBySource = new Map(before.map((s) => [s.source, s]));
  const inSource = new Set(sources.map((s) => s.source));
  const toCopy = sources.filter((s) => {
    const d = beforeBySource.get(s.source);
    return !d || d.chunks !== s.chunks || d.sourceHash !== s.sourceHash;
  });
  const replacing = new Set(toCopy.filter((s) => beforeBySource.has(s.source)).map((s) => s.source));
  const summary: CollectionMigration = {
    name: meta.name,
    modelId: meta.modelId,
    dimension: meta.dimension,
    created: plan.existing === undefined,
    sources: sources.length,
    copied: 0,
    replaced: 0,
    skipped: sources.length - toCopy.length,
    pending: toCopy.length,
    chunks: 0,
    chunksInDestination: 0,
    onlyInDestination: before.filter((s) => !inSource.has(s.source)).map((s) => s.source),
    verified: false,
    mismatches: [],
  };
  const chunksToCopy = toCopy.reduce((n, s) => n + s.chunks, 0);
  const started = Date.now();
  const report = async (phase: MigratePhase) => {
    await options.onProgress?.({
      phase,
      collection: meta.name,
      collectionIndex,
      collectionCount,
      sources: sources.length,
      sourcesToCopy: toCopy.length,
      sourcesCopied: summary.copied,
      sourcesSkipped: summary.skipped,
      chunksToCopy,
      chunksCopied: summary.chunks,
      elapsedMs: Date.now() - started,
    });
  };
  await report("plan");

  // Export the next batch while the current one is written: the two stores work in parallel.
  const groups = batches(toCopy, options.batchChunks);
  let next: Promise<SourceReplacement[]> | undefined = groups[0] ? exportBatch(source, groups[0]) : undefined;
  for (let g = 0; g < groups.length; g++) {
    if (options.signal?.aborted) {
      await next?.catch(() => undefined);
      return { summary, interrupted: true };
    }
    const replacements = (await next) as SourceReplacement[];
    const following = groups[g + 1];
    next = following ? exportBatch(source, following) : undefined;
    // Should the write fail, the prefetch's own failure must not surface as an unhandled rejection.
    next?.catch(() => undefined);
    // Like an ingest: the optimize() below does the index upkeep after the last batch.
    await dest.replaceSources(replacements, { ingest: following ? "more" : "last" });
    const written = replacements.reduce((n, r) => n + r.chunks.length, 0);
    summary.copied += replacements.length;
    summary.replaced += replacements.filter((r) => replacing.has(r.source)).length;
    summary.pending -= groups[g]!.length;
    summary.chunks += written;
    await report("copy");
  }

  if (summary.copied > 0) {
    await report("index");
    await dest.optimize();
  }
  await report("verify");
  // Compare with the source as it is now: a source that changed during the copy shows up here.
  const [expected, found] = await Promise.all([source.listSources(), dest.listSources()]);
  summary.mismatches = compareSources(expected, found);
  const expectedNames = new Set(expected.map((s) => s.source));
  summary.onlyInDestination = found.filter((s) => !expectedNames.has(s.source)).map((s) => s.source);
  summary.chunksInDestination = found.reduce((n, s) => n + s.chunks, 0);
  summary.verified = summary.mismatches.length === 0;
  await report("done");
  return { summary, interrupted: false };
}
