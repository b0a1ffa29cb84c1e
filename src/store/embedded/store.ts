import { availableParallelism } from "node:os";
import { join, resolve } from "node:path";
import { type Connection, connect, type Table } from "@lancedb/lancedb";
import { isMragError, ModelMismatchError, StoreDamagedError, StoreError, UsageError } from "../../errors.js";
import { storeFailure } from "../diagnose.js";
import { KEYWORD_ANALYSIS_VERSION, keywordAnalysis, LEGACY_KEYWORD_ANALYSIS } from "../keyword-text.js";
import { DEFAULT_LOCK_WAIT_MS, FileLock } from "../lock.js";
import { builtinUpgradeAdvice } from "../model-mismatch.js";
import type { Collection, CollectionMeta, OpenCollectionOptions, Store } from "../types.js";
import { validateCollectionName, validateModelAndDimension } from "../validate.js";
import { EmbeddedCollection } from "./collection.js";
import { clearDamageNote, damageNoted, noteDamage } from "./damage-note.js";
import { DEFAULT_INDEX_POLICY, type IndexPolicy } from "./maintenance.js";
import {
  DB_DIR,
  initFolder,
  inspectFolder,
  LOCK_FILE,
  type MarkerCollection,
  readMarker,
  type StoreMarker,
  writeMarker,
} from "./marker.js";
import { chunkSchema, schemaDimension } from "./schema.js";

export interface EmbeddedStoreOptions extends Partial<IndexPolicy> {
  /** Poll interval while waiting for the write lock (ms); default 50. */
  lockPollMs?: number;
  /**
   * How often (seconds) a table handle checks for commits made by other processes; default 0 = before every
   * read, so a long-running server sees each ingest as soon as it commits.
   */
  readConsistencyIntervalSeconds?: number;
  /** Where "waiting for the write lock" goes (the CLI's stderr logger). */
  onLockWait?: (message: string) => void;
}

/**
 * LanceDB 0.31 sizes its compute pool to the CPU count, and with 2 threads building a full-text index over
 * ~100k real-sized chunks deadlocks (every thread parked, no progress; measured on a 2-core machine; 3+
 * threads finish in ~10 s). The pool is created on first use, so raising the floor here is enough. A value the
 * user set is kept.
 */
export const MIN_LANCE_CPU_THREADS = 4;
function configureLance(): void {
  if (!process.env.LANCE_CPU_THREADS) {
    process.env.LANCE_CPU_THREADS = String(Math.max(MIN_LANCE_CPU_THREADS, availableParallelism()));
  }
}

/**
 * Open (not create) the embedded store in `folder`. Nothing is written until the first write: a missing
 * folder is created, with its marker, by the first `withWriteLock` / `openCollection({ create: true })`.
 * A folder that exists, is not empty and is not an mrag store is refused.
 */
export async function openEmbeddedStore(folder: string, options: EmbeddedStoreOptions = {}): Promise<EmbeddedStore> {
  if (typeof folder !== "string" || folder.trim() === "") throw new UsageError("store folder path must be non-empty");
  // LanceDB takes a relative path without "./" for a cloud address, so only absolute paths go further.
  const location = resolve(folder);
  await inspectFolder(location);
  configureLance();
  return new EmbeddedStore(location, options);
}

function toMeta(name: string, c: MarkerCollection): CollectionMeta {
  return {
    name,
    modelId: c.modelId,
    dimension: c.dimension,
    createdAt: c.createdAt,
    keywordAnalysis: c.keywordAnalysis ?? LEGACY_KEYWORD_ANALYSIS,
  };
}

function mismatchError(location: string, name: string, stored: MarkerCollection, asked: OpenCollectionOptions) {
  const advice =
    builtinUpgradeAdvice(stored.modelId, asked.modelId) ??
    `Switch back with \`--embedder ${stored.modelId}\`, or re-index: \`mrag delete --all\` then \`mrag ingest\` again, ` +
      "or ingest into another `--collection` or `--store`.";
  return new ModelMismatchError(
    `collection "${name}" in ${location} was built with embedding model ${stored.modelId} ` +
      `(${stored.dimension}-d vectors), but ${asked.modelId} (${asked.dimension}-d) was asked for; ` +
      `vectors from different models cannot be compared. ${advice}`,
  );
}

export class EmbeddedStore implements Store {
  readonly kind = "embedded" as const;
  readonly location: string;
  readonly policy: IndexPolicy;
  private readonly lock: FileLock;
  private readonly readConsistencyIntervalSeconds: number;
  private connection: Connection | undefined;
  private readonly collections = new Map<string, EmbeddedCollection>();
  private closed = false;

  constructor(location: string, options: EmbeddedStoreOptions = {}) {
    this.location = location;
    this.policy = {
      vectorIndexMinRows: options.vectorIndexMinRows ?? DEFAULT_INDEX_POLICY.vectorIndexMinRows,
      nprobes: options.nprobes ?? DEFAULT_INDEX_POLICY.nprobes,
      cleanupOlderThanMs: options.cleanupOlderThanMs ?? DEFAULT_INDEX_POLICY.cleanupOlderThanMs,
      ftsMaxUnindexedRatio: options.ftsMaxUnindexedRatio ?? DEFAULT_INDEX_POLICY.ftsMaxUnindexedRatio,
      vectorIndexRetrainGrowth: options.vectorIndexRetrainGrowth ?? DEFAULT_INDEX_POLICY.vectorIndexRetrainGrowth,
    };
    this.readConsistencyIntervalSeconds = options.readConsistencyIntervalSeconds ?? 0;
    this.lock = new FileLock(join(location, LOCK_FILE), {
      label: `the store at ${location}`,
      ...(options.lockPollMs !== undefined ? { pollMs: options.lockPollMs } : {}),
      ...(options.onLockWait ? { onWait: options.onLockWait } : {}),
    });
  }

  private assertOpen(): void {
    if (this.closed) throw new StoreError(`the store at ${this.location} is closed`);
  }

  private async db(): Promise<Connection> {
    this.assertOpen();
    if (!this.connection) {
      this.connection = await connect(join(this.location, DB_DIR), {
        readConsistencyInterval: this.readConsistencyIntervalSeconds,
      });
    }
    return this.connection;
  }

  async withWriteLock<T>(fn: () => Promise<T>, waitMs: number = DEFAULT_LOCK_WAIT_MS): Promise<T> {
    this.assertOpen();
    if (this.lock.heldByCurrentChain()) return fn();
    await initFolder(this.location);
    return this.lock.run(fn, waitMs);
  }

  private noStore(): StoreError {
    return new StoreError(
      `no store at ${this.location}; nothing has been ingested yet: ingest first (\`mrag ingest <path>\` or the MCP ingest tool), or pass the right --store folder`,
    );
  }

  async listCollections(): Promise<CollectionMeta[]> {
    this.assertOpen();
    const state = await inspectFolder(this.location);
    if (state !== "store") return [];
    const marker = await readMarker(this.location);
    return Object.entries(marker?.collections ?? {})
      .map(([name, c]) => toMeta(name, c))
      .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  async openCollection(name: string, options: OpenCollectionOptions): Promise<Collection> {
    this.assertOpen();
    validateCollectionName(name);
    validateModelAndDimension(options?.modelId, options?.dimension);
    try {
      return await this.openOrCreate(name, options);
    } catch (error) {
      if (isMragError(error)) throw error;
      const failure = storeFailure(`opening collection "${name}"`, this.location, error);
      if (failure instanceof StoreDamagedError) await noteDamage(this.location, name, failure.message);
      throw failure;
    }
  }

  private async openOrCreate(name: string, options: OpenCollectionOptions): Promise<Collection> {
    const state = await inspectFolder(this.location);
    if (state !== "store" && !options.create) throw this.noStore();
    const marker = state === "store" ? await readMarker(this.location) : undefined;
    const entry = marker?.collections[name];
    if (entry && entry.modelId === options.modelId && entry.dimension === options.dimension) {
      const cached = this.collections.get(name);
      if (cached && cached.meta.modelId === entry.modelId && cached.meta.dimension === entry.dimension) return cached;
      const table = await this.openTable(name);
      if (table) {
        if (options.create && (entry.keywordAnalysis ?? LEGACY_KEYWORD_ANALYSIS) < KEYWORD_ANALYSIS_VERSION) {
          await this.upgradeKeywordAnalysisIfEmpty(name, table, entry);
        }
        return this.remember(toMeta(name, entry), table);
      }
      if (!options.create) {
        throw new StoreError(
          `collection "${name}" is recorded in ${this.location} but its table is missing; ` +
            "run `mrag ingest` to rebuild it",
        );
      }
    } else if (entry) {
      if (!options.create) throw mismatchError(this.location, name, entry, options);
    } else if (!options.create) {
      const known = Object.keys(marker?.collections ?? {});
      throw new StoreError(
        `collection "${name}" does not exist in ${this.location}; nothing has been ingested into it yet: ingest first (\`mrag ingest <path>\` or the MCP ingest tool)` +
          (known.length > 0 ? ` (existing collections: ${known.join(", ")})` : ""),
      );
    }
    return this.withWriteLock(() => this.createCollection(name, options));
  }

  /**
   * A collection from before CJK segmentation keeps its analysis while it has rows (its search text was
   * written without it); once emptied (`mrag delete --all`), a writer moves it to the current analysis, so
   * re-ingesting is the way to upgrade.
   */
  private async upgradeKeywordAnalysisIfEmpty(name: string, table: Table, entry: MarkerCollection): Promise<void> {
    await this.withWriteLock(async () => {
      if ((await table.countRows()) > 0) return;
      const marker = (await readMarker(this.location)) as StoreMarker;
      const current = marker.collections[name];
      if (!current) return;
      current.keywordAnalysis = KEYWORD_ANALYSIS_VERSION;
      await writeMarker(this.location, marker);
      entry.keywordAnalysis = KEYWORD_ANALYSIS_VERSION;
    });
  }

  /** Under the write lock: create the table and record it, or adopt an empty collection for a new model. */
  private async createCollection(name: string, options: OpenCollectionOptions): Promise<Collection> {
    const marker = (await readMarker(this.location)) as StoreMarker;
    const entry = marker.collections[name];
    let table = await this.openTable(name);
    if (entry && table && entry.modelId === options.modelId && entry.dimension === options.dimension) {
      return this.remember(toMeta(name, entry), table); // created by another writer meanwhile
    }
    if (entry && table) {
      // Another model: only an empty collection may be taken over (e.g. after `mrag delete --all`).
      if ((await table.countRows()) > 0) throw mismatchError(this.location, name, entry, options);
    }
    if (table && (entry || schemaDimension(await table.schema()) !== options.dimension)) {
      table.close();
      await (await this.db()).dropTable(name);
      table = undefined;
    }
    if (!table) {
      // Indexes come with the first rows (see EmbeddedCollection.keepFullTextIndexCurrent).
      table = await (await this.db()).createEmptyTable(name, chunkSchema(options.dimension), { mode: "create" });
    }
    const meta: MarkerCollection = {
      modelId: options.modelId,
      dimension: options.dimension,
      createdAt: Date.now(),
      keywordAnalysis: KEYWORD_ANALYSIS_VERSION,
    };
    marker.collections[name] = meta;
    await writeMarker(this.location, marker);
    this.forget(name);
    return this.remember(toMeta(name, meta), table);
  }

  /**
   * Drop a collection and its data. Returns false when it did not exist. (Not in the Store contract; the
   * embedded store offers it for `mrag delete --all`-style resets and for tests.)
   */
  async dropCollection(name: string): Promise<boolean> {
    validateCollectionName(name);
    const state = await inspectFolder(this.location);
    if (state !== "store") return false;
    return this.withWriteLock(async () => {
      const marker = (await readMarker(this.location)) as StoreMarker;
      const existed = name in marker.collections;
      this.forget(name);
      const db = await this.db();
      if ((await db.tableNames()).includes(name)) await db.dropTable(name);
      if (existed) {
        delete marker.collections[name];
        await writeMarker(this.location, marker);
      }
      return existed;
    });
  }

  /** Whether a reader found the collection damaged since its last repair (damage-note.ts). */
  async damageReported(name: string): Promise<boolean> {
    validateCollectionName(name);
    return damageNoted(this.location, name);
  }

  /** Repair a damaged collection table under the write lock (see repair.ts); undefined when none was found. */
  async repairCollection(name: string): Promise<string | undefined> {
    validateCollectionName(name);
    return this.withWriteLock(async () => {
      try {
        const entry = (await readMarker(this.location))?.collections[name];
        const db = await this.db();
        if (!entry || !(await db.tableNames()).includes(name)) return undefined;
        const { describeRepair, repairTable } = await import("./repair.js");
        const report = await repairTable({
          db,
          folder: this.location,
          dbFolder: join(this.location, DB_DIR),
          name,
          dimension: entry.dimension,
          analyze: keywordAnalysis(entry.keywordAnalysis ?? LEGACY_KEYWORD_ANALYSIS),
        });
        // Whatever a reader saw is repaired now, or was not in the files (the ingest says if it still fails).
        await clearDamageNote(this.location, name);
        if (!report) return undefined;
        // An open handle would keep reading the version it last saw.
        await this.collections
          .get(name)
          ?.lanceTable.checkoutLatest()
          .catch(() => this.forget(name));
        return describeRepair(report);
      } catch (error) {
        if (isMragError(error)) throw error;
        throw storeFailure(`repairing collection "${name}"`, this.location, error);
      }
    });
  }

  private async openTable(name: string): Promise<Table | undefined> {
    const db = await this.db();
    if (!(await db.tableNames()).includes(name)) return undefined;
    return db.openTable(name);
  }

  private remember(meta: CollectionMeta, table: Table): EmbeddedCollection {
    // Two opens of one collection can race (a server's warm-up and its first ingest): the first one to finish
    // is kept, so nobody is handed a collection whose table the other just closed.
    const cached = this.collections.get(meta.name);
    if (
      cached &&
      cached.meta.modelId === meta.modelId &&
      cached.meta.dimension === meta.dimension &&
      cached.meta.createdAt === meta.createdAt
    ) {
      table.close();
      return cached;
    }
    const collection = new EmbeddedCollection(meta, table, {
      location: this.location,
      policy: this.policy,
      keywordAnalysis: meta.keywordAnalysis ?? LEGACY_KEYWORD_ANALYSIS,
      withWriteLock: (fn) => this.withWriteLock(fn),
      assertOpen: () => this.assertOpen(),
      vectorIndexRecord: async () => (await readMarker(this.location))?.collections[meta.name]?.vectorIndex,
      recordVectorIndex: async (record) => {
        const marker = await readMarker(this.location);
        const entry = marker?.collections[meta.name];
        if (!marker || !entry) return;
        entry.vectorIndex = record;
        await writeMarker(this.location, marker);
      },
      noteDamage: (message) => noteDamage(this.location, meta.name, message),
    });
    this.forget(meta.name);
    this.collections.set(meta.name, collection);
    return collection;
  }

  private forget(name: string): void {
    const old = this.collections.get(name);
    if (old) {
      this.collections.delete(name);
      old.releaseMemory();
      old.lanceTable.close();
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const name of [...this.collections.keys()]) this.forget(name);
    this.connection?.close();
    this.connection = undefined;
  }
}
