import type { Table } from "@lancedb/lancedb";
import { isMragError, StoreDamagedError, UsageError } from "../../errors.js";
import { storeFailure } from "../diagnose.js";
import { hybridCandidates } from "../fusion.js";
import { DEFAULT_DENSE_WEIGHT } from "../hybrid-rank.js";
import { keywordAnalysis } from "../keyword-text.js";
import type {
  ChunkRecord,
  Collection,
  CollectionMeta,
  CollectionStats,
  FileType,
  ReplaceOptions,
  SearchHit,
  SearchRequest,
  SourceInfo,
  SourceReplacement,
  StoredChunk,
} from "../types.js";
import {
  type ValidSearch,
  validateChunks,
  validateNeighbourCounts,
  validateReplacements,
  validateSearchRequest,
} from "../validate.js";
import { compileSearchFilter, eq, inList, startsWith } from "./filter.js";
import { byScoreThenId, hybridRank, type RowMap, rankCandidates, TitleCache } from "./hybrid.js";
import {
  FTS_COLUMN,
  type IndexPolicy,
  TableMaintenance,
  VECTOR_COLUMN,
  type VectorIndexRecord,
} from "./maintenance.js";
import { SnapshotSearch } from "./memory-search.js";
import { CHUNK_COLUMNS, chunksToArrow, numberColumn, rowToChunk, stringColumn, stringListColumn } from "./schema.js";

export {
  DEFAULT_INDEX_POLICY,
  FTS_COLUMN,
  FTS_INDEX,
  ftsIndex,
  type IndexPolicy,
  VECTOR_COLUMN,
  VECTOR_INDEX,
  type VectorIndexRecord,
  vectorIndexPartitions,
} from "./maintenance.js";

/** What a collection needs from the store that opened it. */
export interface CollectionContext {
  location: string;
  policy: IndexPolicy;
  /** The keyword analysis version the collection's rows were written with (store/keyword-text.ts). */
  keywordAnalysis: number;
  withWriteLock<T>(fn: () => Promise<T>): Promise<T>;
  assertOpen(): void;
  /** Read / record the vector index training record (call under the write lock). */
  vectorIndexRecord(): Promise<VectorIndexRecord | undefined>;
  recordVectorIndex(record: VectorIndexRecord): Promise<void>;
  /** Leave the note that makes the next ingest repair the collection (damage-note.ts). */
  noteDamage(message: string): Promise<void>;
}

const ID_BATCH = 1000;
const SELECT_WITH_DISTANCE = [...CHUNK_COLUMNS, "_distance"];
const SELECT_WITH_SCORE = [...CHUNK_COLUMNS, "_score"];

export class EmbeddedCollection implements Collection {
  readonly meta: CollectionMeta;
  private readonly table: Table;
  private readonly ctx: CollectionContext;
  private readonly titles: TitleCache;
  /** Unfiltered dense and hybrid searches scan vectors held in memory (memory-search.ts). */
  private readonly memory: SnapshotSearch;
  /** What search text and keyword queries go through before the index sees them (CJK segmentation). */
  private readonly analyze: (text: string) => string;
  private readonly maintenance: TableMaintenance;

  constructor(meta: CollectionMeta, table: Table, ctx: CollectionContext) {
    this.meta = meta;
    this.table = table;
    this.ctx = ctx;
    this.titles = new TitleCache(table);
    this.analyze = keywordAnalysis(ctx.keywordAnalysis);
    this.memory = new SnapshotSearch(table, meta.dimension, this.titles);
    this.maintenance = new TableMaintenance(table, ctx.policy, {
      read: () => ctx.vectorIndexRecord(),
      write: (record) => ctx.recordVectorIndex(record),
    });
  }

  /** Load the in-memory search snapshot of the current version and wait for it (warm-up, benchmarks). */
  prepareSearch(): Promise<boolean> {
    return this.guard("loading vectors for search", () => this.memory.prepare());
  }

  /** Drop what searches hold in memory (the store calls this when it closes the table). */
  releaseMemory(): void {
    this.memory.close();
  }

  /** The LanceDB table, for the store (closing) and tests. */
  get lanceTable(): Table {
    return this.table;
  }

  /** Run `fn`, turning anything LanceDB throws into a StoreError that says what failed and where. */
  private async guard<T>(what: string, fn: () => Promise<T>): Promise<T> {
    this.ctx.assertOpen();
    try {
      return await fn();
    } catch (error) {
      if (isMragError(error)) throw error;
      const failure = storeFailure(`${what} in collection "${this.meta.name}"`, this.ctx.location, error);
      if (failure instanceof StoreDamagedError) await this.ctx.noteDamage(failure.message);
      throw failure;
    }
  }

  /** A write: under the store's write lock (re-entrant), errors explained. */
  private write<T>(what: string, fn: () => Promise<T>): Promise<T> {
    return this.guard(what, () => this.ctx.withWriteLock(fn));
  }

  async replaceSources(replacements: readonly SourceReplacement[], options: ReplaceOptions = {}): Promise<void> {
    if (replacements.length === 0) return;
    const chunks = validateReplacements(replacements, (c) => validateChunks(c, this.meta.dimension, this.meta.name));
    await this.write("replacing sources", async () => {
      const stored = await this.storedSources(replacements.map((r) => r.source));
      // A source with rows is replaced by one merge-insert (one commit: readers see all its old chunks or all
      // its new ones). A source without rows has nothing to replace: appending its chunks is one commit too,
      // and skips the merge's scan of the whole table. Chunk ids hash their source, so none can collide.
      const replaced = replacements.filter((r) => stored.has(r.source));
      const added = replacements.filter((r) => !stored.has(r.source)).flatMap((r) => r.chunks);
      if (replaced.length > 0) {
        await this.table
          .mergeInsert("id")
          .whenMatchedUpdateAll()
          .whenNotMatchedInsertAll()
          .whenNotMatchedBySourceDelete({ where: inList("source", [...replaced.map((r) => r.source)]) })
          .execute(this.toArrow(replaced.flatMap((r) => r.chunks)));
      }
      if (added.length > 0) await this.table.add(this.toArrow(added));
      if (chunks.length > 0) await this.maintenance.afterWrite(options.ingest);
    });
  }

  /** Which of `sources` have rows (one scan of the source column per ID_BATCH sources). */
  private async storedSources(sources: readonly string[]): Promise<Set<string>> {
    const found = new Set<string>();
    for (let i = 0; i < sources.length; i += ID_BATCH) {
      const result = await this.table
        .query()
        .where(inList("source", sources.slice(i, i + ID_BATCH)))
        .select(["source"])
        .toArrow();
      for (const source of stringColumn(result, "source")) found.add(source);
    }
    return found;
  }

  private toArrow(chunks: readonly ChunkRecord[]) {
    return chunksToArrow(chunks, this.meta.dimension, this.analyze);
  }

  async upsert(chunks: readonly ChunkRecord[]): Promise<void> {
    if (chunks.length === 0) return;
    validateChunks(chunks, this.meta.dimension, this.meta.name);
    // Last occurrence of an id wins (a merge with duplicate keys would insert both).
    const unique = [...new Map(chunks.map((c) => [c.id, c])).values()];
    await this.write("upserting chunks", async () => {
      await this.table
        .mergeInsert("id")
        .whenMatchedUpdateAll()
        .whenNotMatchedInsertAll()
        .execute(chunksToArrow(unique, this.meta.dimension, this.analyze));
      await this.maintenance.afterWrite();
    });
  }

  async deleteSources(selector: { source: string } | { prefix: string }): Promise<number> {
    let where: string;
    if ("source" in selector && typeof selector.source === "string") {
      where = eq("source", selector.source);
    } else if ("prefix" in selector && typeof selector.prefix === "string") {
      where = startsWith("source", selector.prefix);
    } else {
      throw new UsageError("deleteSources needs { source } or { prefix }");
    }
    return this.write("deleting sources", async () => (await this.table.delete(where)).numDeletedRows);
  }

  getByIds(ids: readonly string[]): Promise<StoredChunk[]> {
    return this.guard("reading chunks by id", () => this.readByIds(ids));
  }

  private async readByIds(ids: readonly string[]): Promise<StoredChunk[]> {
    const wanted = [...new Set(ids)];
    const found = new Map<string, StoredChunk>();
    for (let i = 0; i < wanted.length; i += ID_BATCH) {
      const batch = wanted.slice(i, i + ID_BATCH);
      const rows = await this.table
        .query()
        .where(inList("id", batch))
        .select([...CHUNK_COLUMNS])
        .toArray();
      for (const row of rows) {
        const chunk = rowToChunk(row);
        found.set(chunk.id, chunk);
      }
    }
    return wanted.flatMap((id) => {
      const chunk = found.get(id);
      return chunk ? [chunk] : [];
    });
  }

  async neighbours(
    id: string,
    before: number,
    after: number,
  ): Promise<{ before: StoredChunk[]; after: StoredChunk[] }> {
    this.ctx.assertOpen();
    validateNeighbourCounts(before, after);
    return this.guard("reading neighbours", () =>
      this.consistentRead(async () => {
        const [anchor] = await this.readByIds([id]);
        if (!anchor) throw new UsageError(`no chunk with id ${JSON.stringify(id)} in collection "${this.meta.name}"`);
        const side = async (count: number, op: "<" | ">"): Promise<StoredChunk[]> => {
          if (count === 0) return [];
          const rows = await this.table
            .query()
            .where(`${eq("source", anchor.source)} AND position ${op} ${anchor.position}`)
            .orderBy({ columnName: "position", ascending: op === ">" })
            .limit(count)
            .select([...CHUNK_COLUMNS])
            .toArray();
          return rows.map(rowToChunk).sort((a, b) => a.position - b.position);
        };
        const [b, a] = await Promise.all([side(before, "<"), side(after, ">")]);
        return { before: b, after: a };
      }),
    );
  }

  getSource(source: string): Promise<StoredChunk[]> {
    return this.guard("reading a source", async () => {
      const rows = await this.table
        .query()
        .where(eq("source", source))
        .select([...CHUNK_COLUMNS])
        .toArray();
      return rows.map(rowToChunk).sort((a, b) => a.position - b.position);
    });
  }

  exportSources(sources: readonly string[]): Promise<Map<string, ChunkRecord[]>> {
    return this.guard("exporting sources", async () => {
      const bySource = new Map<string, ChunkRecord[]>();
      const wanted = [...new Set(sources)];
      for (let i = 0; i < wanted.length; i += ID_BATCH) {
        const rows = await this.table
          .query()
          .where(inList("source", wanted.slice(i, i + ID_BATCH)))
          .select([...CHUNK_COLUMNS, "vector"])
          .toArray();
        for (const row of rows) {
          const chunk = { ...rowToChunk(row), vector: Float32Array.from(row.vector as ArrayLike<number>) };
          const list = bySource.get(chunk.source);
          if (list) list.push(chunk);
          else bySource.set(chunk.source, [chunk]);
        }
      }
      for (const list of bySource.values()) list.sort((a, b) => a.position - b.position);
      return bySource;
    });
  }

  listSources(options?: { prefix?: string }): Promise<SourceInfo[]> {
    return this.guard("listing sources", () => this.aggregateSources(options?.prefix));
  }

  private async aggregateSources(prefix: string | undefined): Promise<SourceInfo[]> {
    let query = this.table.query().select(["source", "source_hash", "file_type", "tags", "ingested_at"]);
    if (prefix) query = query.where(startsWith("source", prefix));
    const result = await query.toArrow();
    const sources = stringColumn(result, "source");
    const hashes = stringColumn(result, "source_hash");
    const types = stringColumn(result, "file_type");
    const tags = stringListColumn(result, "tags");
    const times = numberColumn(result, "ingested_at");
    const bySource = new Map<string, SourceInfo & { tagSet: Set<string> }>();
    for (let i = 0; i < sources.length; i++) {
      const source = sources[i]!;
      const ingestedAt = times[i]!;
      let info = bySource.get(source);
      if (!info) {
        info = {
          source,
          chunks: 0,
          sourceHash: hashes[i]!,
          fileType: types[i] as FileType,
          tags: [],
          ingestedAt,
          tagSet: new Set(),
        };
        bySource.set(source, info);
      }
      info.chunks++;
      if (ingestedAt > info.ingestedAt) {
        // Chunks of one source share these; if a caller mixed versions, the newest write wins.
        info.ingestedAt = ingestedAt;
        info.sourceHash = hashes[i]!;
        info.fileType = types[i] as FileType;
      }
      for (const t of tags[i]!) info.tagSet.add(t);
    }
    return [...bySource.values()]
      .map(({ tagSet, ...info }) => ({ ...info, tags: [...tagSet].sort() }))
      .sort((a, b) => (a.source < b.source ? -1 : a.source > b.source ? 1 : 0));
  }

  stats(): Promise<CollectionStats> {
    return this.guard("reading statistics", () => this.readStats());
  }

  private async readStats(): Promise<CollectionStats> {
    const result = await this.table.query().select(["source", "ingested_at"]).toArrow();
    const sources = new Set(stringColumn(result, "source"));
    let last: number | null = null;
    for (const n of numberColumn(result, "ingested_at")) if (last === null || n > last) last = n;
    const indexes = await this.maintenance.indexState();
    return {
      name: this.meta.name,
      chunks: result.numRows,
      sources: sources.size,
      modelId: this.meta.modelId,
      dimension: this.meta.dimension,
      lastIngestAt: last,
      indexes: { fts: indexes.fts, vector: indexes.vector ?? false },
    };
  }

  async search(request: SearchRequest): Promise<SearchHit[]> {
    this.ctx.assertOpen();
    const valid = validateSearchRequest(request, this.meta.dimension, this.meta.name);
    const where = compileSearchFilter(valid.filter);
    return this.guard(`${valid.mode} search`, async () => {
      const depth = hybridCandidates(valid.k);
      if (where === undefined) {
        // The postings hold search text as written (CJK already split), so the query is analysed the same way.
        const keywordText = valid.mode === "dense" ? "" : this.analyze(valid.text!);
        const hits =
          valid.mode === "dense"
            ? await this.memory.dense(valid.vector!, valid.k)
            : valid.mode === "keyword"
              ? await this.memory.keyword(keywordText, valid.k)
              : await this.memory.hybrid(valid.vector!, keywordText, {
                  k: valid.k,
                  depth,
                  denseWeight: valid.denseWeight ?? DEFAULT_DENSE_WEIGHT,
                });
        if (hits) return hits;
      }
      if (valid.mode === "keyword") return this.keyword(valid, valid.k, where);
      if (valid.mode === "dense") return this.dense(valid, valid.k, where);
      const [dense, keyword, version] = await this.consistentRead(async () => {
        const [d, kw, v] = await Promise.all([
          this.denseQuery(valid, depth, where).toArrow(),
          this.keywordQuery(valid, depth, where).toArrow(),
          this.table.version(),
        ]);
        return [d, kw, v] as const;
      });
      // Rank on ids and scores read from the Arrow columns; only the k winners become chunks (building a
      // JS object per candidate cost more than the fusion itself).
      const lazyRows = new Map<string, () => Record<string, unknown>>();
      return hybridRank(
        rankCandidates(dense, "_distance", (d) => 1 - d, lazyRows),
        rankCandidates(keyword, "_score", (s) => s, lazyRows),
        {
          k: valid.k,
          denseWeight: valid.denseWeight ?? DEFAULT_DENSE_WEIGHT,
          dictionary: await this.titles.get(version),
          rows: (ids) => {
            const rows: RowMap = new Map();
            for (const id of ids) {
              const row = lazyRows.get(id);
              if (row) rows.set(id, row());
            }
            return rows;
          },
          fetch: (ids) => this.fetchRows(ids, where),
        },
      );
    });
  }

  /** Rows of these ids that pass the search filter (documents reached through a title mention). */
  private async fetchRows(ids: readonly string[], where: string | undefined): Promise<Record<string, unknown>[]> {
    const byId = inList("id", [...ids]);
    return this.table
      .query()
      .where(where ? `(${where}) AND ${byId}` : byId)
      .select([...CHUNK_COLUMNS])
      .toArray();
  }

  /**
   * Run several queries against one table version: if a commit landed while they ran (the version moved),
   * run them again, so that e.g. the two branches of a hybrid search never mix two versions of a source.
   */
  private async consistentRead<T>(read: () => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      const before = await this.table.version();
      const result = await read();
      if ((await this.table.version()) === before || attempt >= 5) return result;
    }
  }

  private denseQuery(valid: ValidSearch, limit: number, where: string | undefined) {
    const query = this.table
      .vectorSearch(valid.vector!)
      .column(VECTOR_COLUMN)
      .distanceType("dot")
      // Ignored without a vector index. With one: probe at least `nprobes` partitions and, with no upper
      // bound, let LanceDB probe on while further partitions can still hold better rows or a narrow prefilter
      // left too few (measured recall@10 1.0 vs 0.65-0.96 for a fixed 1-32; see the bench).
      .maximumNprobes(0) // 0 = no upper bound; must be set before the minimum (which must not exceed it)
      .minimumNprobes(this.ctx.policy.nprobes)
      .select(SELECT_WITH_DISTANCE)
      .limit(limit);
    return where ? query.where(where) : query;
  }

  private async dense(valid: ValidSearch, limit: number, where: string | undefined): Promise<SearchHit[]> {
    const rows = await this.denseQuery(valid, limit, where).toArray();
    // LanceDB's dot distance is 1 - a·b; on unit vectors a·b is the cosine similarity.
    return rows.map((row) => ({ chunk: rowToChunk(row), score: 1 - Number(row._distance) })).sort(byScoreThenId);
  }

  private keywordQuery(valid: ValidSearch, limit: number, where: string | undefined) {
    const query = this.table
      .query()
      .fullTextSearch(this.analyze(valid.text!), { columns: FTS_COLUMN })
      .select(SELECT_WITH_SCORE)
      .limit(limit);
    return where ? query.where(where) : query;
  }

  private async keyword(valid: ValidSearch, limit: number, where: string | undefined): Promise<SearchHit[]> {
    const rows = await this.keywordQuery(valid, limit, where).toArray();
    // Rows not yet in the index come back unsorted after the indexed ones: sort here.
    return rows.map((row) => ({ chunk: rowToChunk(row), score: Number(row._score) })).sort(byScoreThenId);
  }

  /** An ingest killed before its optimize() leaves its last batch outside the full-text index: fold it now. */
  async cleanup(): Promise<void> {
    await this.write("bringing the full-text index up to date", async () => {
      if ((await this.table.countRows()) > 0) await this.maintenance.afterWrite();
    });
  }

  async optimize(): Promise<void> {
    await this.write("optimizing indexes", () => this.maintenance.optimize());
  }
}
